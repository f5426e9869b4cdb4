"""The Bokeh directory app (``main.py``, ``app_hooks.py``, ``theme.yaml``), run by
``orderflow-dashboard``; a package only so its data files ship with the wheel."""
