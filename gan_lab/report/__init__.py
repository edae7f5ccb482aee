"""Run comparison: ``gan-lab compare runs=DIR[,DIR...] out=report.html`` (CLI: gan_lab.commands.compare).

runs.py finds and loads run directories, aggregate.py groups them into configurations and summarises
over seeds (stats.py: mean ± std), sanity.py gathers the sanity rows (stand-ins for the generator),
baseline.py picks the ``baseline=`` configuration and pairs runs by seed, paired.py holds the paired
t-test; svg.py draws the curves, html.py writes one self-contained page (widgets.py: shared pieces,
html_paired.py: the paired section), markdown.py the tables, text.py the console lines.
"""
