"""Run comparison: ``gan-lab compare runs=DIR[,DIR...] out=report.html`` (CLI: gan_lab.commands.compare).

runs.py finds and loads run directories, aggregate.py groups them into configurations and summarises
over seeds, svg.py draws the curves, html.py writes one self-contained page, markdown.py the table.
"""
