"""Celery workers on Redis serving translation jobs. The rooms (README, Design):

- `settings`: every setting, from the environment; `models`: what MODELS names and the route
  of a pair over it; `celery_app`: the Celery app, queues and task names; `records`: the typed
  job record; `errors`: why a request (or a setting) cannot be served;
- `store`: the one owner of the Redis keys (a package: `keys` names them all and its docstring
  lists them; `jobs`, `documents`, `system` the state; `client` the connection); `scripts`:
  its Lua;
- `intake`: validation, submission and cancellation (what the web calls; no torch);
  `checks`: the checks of what a request or a task message carries; `dispatch`: sending a
  job's tasks; `status`: workers and queue lengths;
- the evaluation workbench: `workbench` its intake, `evaluation_tasks` the evaluation queue's
  tasks (every statistic computed there), `leaderboard` the checkpoints page's data, and
  `store.evaluations` the comparisons and deletions beside the evaluations' records;
- `tasks`: the Celery tasks; `lifecycle`: the skeleton every task runs in; `runtime`: a
  worker process's state (models, micro-batcher) and signals; `batcher`: micro-batching;
  `recovery`: redelivery of messages the broker dropped (all of kombu's layout);
- `serve`, `redis_server`, `processes`, `cli`: `translator serve` on one machine (its
  children end with it); `logs`: structured logs.
"""
