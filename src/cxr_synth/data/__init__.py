"""The images and tables the stages share, without Kedro: decoding and resizing (``imaging``), the
torch Datasets (``torch_data``), patient-level splits (``splits``), the NIH metadata schema
(``nih``) and Markdown/record tables (``tables``)."""
