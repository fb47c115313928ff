"""Run outputs: per-image grids, loss-curve plots, metrics tables (CSV/JSON) and the HTML report."""
