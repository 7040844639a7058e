"""Ground-truth validation of the MI and JSD estimators (in the spirit of bmi, Czyż et al., NeurIPS 2023).

- :mod:`.mi_tasks`: distributions with known mutual information.
- :mod:`.jsd_tasks` and :mod:`.oracle`: pairs of distributions with known JSD
  (closed form, or Monte Carlo on the true densities).
- :mod:`.runner`: runs estimators × tasks × sample sizes × seeds, resumably, into a CSV.
- :mod:`.report`: aggregates the runs (mean, bias, std, time) into a CSV, a Markdown table and a plot.
- :mod:`.presets`: the CI-size and the full grids.
"""
