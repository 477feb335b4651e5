"""The ten UrbanSound8K classes, in the dataset's classID order (0..9).

The names are spelled as in the UrbanSound8K metadata and in the Analytics Vidhya
challenge's submission format (lower case, underscores).
"""

CLASSES: tuple[str, ...] = (
    "air_conditioner",
    "car_horn",
    "children_playing",
    "dog_bark",
    "drilling",
    "engine_idling",
    "gun_shot",
    "jackhammer",
    "siren",
    "street_music",
)

CLASS_ID: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}


def class_name(class_id: int) -> str:
    """Return the class name of a UrbanSound8K ``classID`` (0..9)."""
    return CLASSES[class_id]
