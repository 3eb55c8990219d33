"""Operations: Prometheus metrics of the SIP process (``sipmetrics``) and of the database (``dbmetrics``,
served by the web app's ``/metrics``, ``web``), and the log format of every process (``logs``).

A leaf beside the composition roots: it may import every package; none of them imports it (worker.py
and app.py wire it in, ``routing.redirect`` and ``sip.listener`` only call the hooks they are given).
"""
