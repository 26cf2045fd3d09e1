"""What the SOL collection looks like: its folder layout and its classes.

Shared by the SOL recipe's data preparation and the SoundFont renderer,
which writes notes in the same layout and with the same class names.

Authors
 * speechbrain-protos developers 2026
"""

import os

LAYOUT_DEPTH = 4  # <Family>/<Instrument>/<technique>/<file>
# The 33 classes of SOL 0.9 HQ, in the order of the authors' label indices.
SOL_CLASSES = (
    "PluckedStrings/Guitar",
    "PluckedStrings/Harp",
    "Bassoons/Bassoon",
    "Saxophones/Alto-Sax",
    "Flutes/Flute",
    "Tubas/Bass-Tuba",
    "Trumpets/Trumpet-C-wah",
    "Trumpets/Trumpet-C-cup",
    "Trumpets/Trumpet-C-harmon",
    "Trumpets/Trumpet-C-straight",
    "Trumpets/Trumpet-C",
    "Horns/Horn-sordina",
    "Horns/Horn",
    "Trombones/Tenor-Trombone-straight",
    "Trombones/Tenor-Trombone-cup",
    "Trombones/Tenor-Trombone-wah",
    "Trombones/Tenor-Trombone-harmon",
    "Trombones/Tenor-Trombone",
    "Strings/Violin",
    "Strings/Violoncello-sordina",
    "Strings/Contrabass",
    "Strings/Viola-sordina",
    "Strings/Contrabass-sordina",
    "Strings/Violoncello",
    "Strings/Viola-sordina-piombo",
    "Strings/Violoncello-sordina-piombo",
    "Strings/Viola",
    "Strings/Violin-sordina-piombo",
    "Strings/Violin-sordina",
    "Keyboards/Accordion",
    "Oboes/Oboe",
    "Oboes/Oboe-sordina",
    "Clarinets/Clarinet-Bb",
)


def label_of(relative_path):
    """Class of a file: its ``<Family>/<Instrument>`` folders.

    Example
    -------
    >>> label_of("Strings/Viola-sordina/ordinario/Va-ord-A4-mf.wav")
    'Strings/Viola-sordina'
    """
    family, instrument = relative_path.replace(os.sep, "/").split("/")[:2]
    return f"{family}/{instrument}"


def label_index(label):
    """The authors' index of a SOL class, or -1 for another class.

    Example
    -------
    >>> label_index("Keyboards/Accordion"), label_index("Voices/Alto")
    (29, -1)
    """
    return SOL_CLASSES.index(label) if label in SOL_CLASSES else -1
