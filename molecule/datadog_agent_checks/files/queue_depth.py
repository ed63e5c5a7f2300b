"""A custom agent check (checks.d/queue_depth.py): the depth of the app's task queue in Redis.

Written for the Datadog Agent's Python loader (datadog_checks.base); the stand-in agent only
compiles it and lists it in `status`, it never runs it.
"""

from datadog_checks.base import AgentCheck


class QueueDepthCheck(AgentCheck):
    def check(self, instance):
        import redis  # shipped with the agent's embedded Python

        queue = instance.get("queue", "default")
        client = redis.Redis(host=instance.get("host", "127.0.0.1"), port=int(instance.get("port", 6379)), db=1)
        self.gauge("app.queue.depth", client.llen(queue), tags=[f"queue:{queue}"])
