"""Run comparison: ``gan-lab compare PATH... --out report.html``.

runs.py finds and loads run directories, aggregate.py groups them into configurations and summarises
over seeds, svg.py draws the curves, html.py writes one self-contained page, command.py is the CLI.
"""
