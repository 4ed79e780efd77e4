"""notebooks/explore_results.ipynb runs top to bottom against a finished (tiny) study."""

from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import NoSuchKernel
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "explore_results.ipynb"


def test_notebook_is_committed_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert notebook.cells[0].source.startswith("%load_ext kedro.ipython\n")
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code)


def test_notebook_runs_against_the_study(tiny_study):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tiny_study)}},  # the kernel's working directory
    )
    client.km = client.create_kernel_manager()
    try:
        client.start_new_kernel()
        client.start_new_kernel_client()
    except (NoSuchKernel, RuntimeError) as error:  # no kernelspec, or the kernel died at start
        pytest.skip(f"the Jupyter kernel 'python3' cannot start here: {error}")
    client.execute()  # in that kernel; raises CellExecutionError at the first failing cell
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    assert sum("image/png" in output.get("data", {}) for output in outputs) == 4  # 3 figures + hist
    text = "".join(str(output.get("data", {}).get("text/plain", "")) for output in outputs)
    assert "FD_rand" in text and "__default__" in text
