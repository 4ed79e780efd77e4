"""Multi-seed studies (``kedro study run FILE``): the study file (``file``), the runner
(``runner``: one KedroSession per seed and variant, then ``study_summary``), the MLflow tags and
queries of the seed runs (``mlflow_runs``) and the study figures (``figures``)."""
