"""The NIH ChestX-ray14 metadata schema (``Data_Entry_2017.csv``), shared by the project."""

# Column names as pandas reads the official CSV: the unquoted header fields
# "OriginalImage[Width,Height]" and "OriginalImagePixelSpacing[x,y]" split in two. The 2017
# file also ends every line with a comma, which pandas reads as an empty "Unnamed: 11" column.
OFFICIAL_COLUMNS = (
    "Image Index",
    "Finding Labels",
    "Follow-up #",
    "Patient ID",
    "Patient Age",
    "Patient Gender",
    "View Position",
    "OriginalImage[Width",
    "Height]",
    "OriginalImagePixelSpacing[x",
    "y]",
)
NO_FINDING = "No Finding"
