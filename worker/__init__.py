"""Celery workers on Redis serving translation jobs. The rooms (README, Design):

- `settings`: every setting, from the environment; `models`: what MODELS names and the route
  of a pair over it; `celery_app`: the Celery app, queues and task names; `records`: the typed
  job record; `errors`: why a request (or a setting) cannot be served;
- `store`: the one owner of the Redis keys (a package: `keys` names them all and its docstring
  lists them; `jobs`, `documents`, `system` the state; `client` the connection); `scripts`:
  its Lua;
- `intake`: validation, submission and cancellation (what the web calls; no torch);
  `dispatch`: sending a job's tasks; `status`: workers and queue lengths;
- `tasks`: the Celery tasks; `lifecycle`: the skeleton every task runs in; `runtime`: a
  worker process's state (models, micro-batcher) and signals; `batcher`: micro-batching;
  `recovery`: redelivery of messages the broker dropped (all of kombu's layout);
- `serve`, `redis_server`, `cli`: `translator serve` on one machine; `logs`: structured logs.
"""
