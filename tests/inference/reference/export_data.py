"""Write the statsmodels datasets the R reference script reads (run before make_r_reference.R).

PYTHONPATH=src python tests/inference/reference/export_data.py
"""

from pathlib import Path

import statsmodels.datasets as ds

HERE = Path(__file__).parent

if __name__ == "__main__":
    ds.grunfeld.load_pandas().data.to_csv(HERE / "grunfeld.csv", index=False)
    ds.macrodata.load_pandas().data.to_csv(HERE / "macrodata.csv", index=False)
