"""The ``demo_data`` parameters (conf/base/parameters_demo_data.yml): the procedural phantoms."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from cxr_synth.runtime.schema import Bool, Count, Float, Int, StrictModel

Share = Annotated[Float, Field(ge=0.0, le=1.0)]


class DemoNihParams(StrictModel):
    """The NIH-layout part: metadata rows, images, official split lists."""

    n_patients: Count = 100  # patients in Data_Entry_2017.csv
    max_images_per_patient: Count = 4  # follow-ups per patient: 1..max
    no_finding_fraction: Share = 0.6  # share of rows labelled exactly "No Finding"
    ap_fraction: Share = 0.3  # share of AP (vs PA) views
    test_fraction: Share = 0.2  # patients in test_list.txt (at least one on each side)


class DemoSegParams(StrictModel):
    """The Montgomery-layout part: images with left/right lung masks."""

    n_images: Count = 40  # Montgomery-layout images with left/right lung masks
class DemoDataParams(StrictModel):
    """Built-in demo data: procedural chest phantoms (not clinical images), seeded."""

    generate_if_missing: Bool = True  # generate when a run needs raw data that is not on disk
    seed: Int = 2017  # every phantom and metadata row derives from it
    image_size: Annotated[Int, Field(ge=64, le=4096)] = 1024  # px per side of the PNGs
    workers: Count | None = None  # rendering processes; null: all cores
    nih: DemoNihParams = DemoNihParams()
    seg: DemoSegParams = DemoSegParams()
