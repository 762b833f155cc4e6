"""Background work on a durable engine (DBOS Transact): workflows, queues, workers, jobs.

* :mod:`~toolkit.jobs.engine`: the engine set up from the toolkit's database, one per process;
* :mod:`~toolkit.jobs.queues`: the queues (per host rate and concurrency, global concurrency);
* :mod:`~toolkit.jobs.workflows`: the fleet job and tenant workflows, their steps;
* :mod:`~toolkit.jobs.client`: jobs as front ends see them (enqueue, list, follow, cancel,
  retry), from any machine sharing the database;
* :mod:`~toolkit.jobs.runner`: a fleet job run to its end from a synchronous caller.

Nothing here is imported by ``import toolkit``; the engine loads when background work runs.
"""
