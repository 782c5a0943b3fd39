"""From decisions to a plan: what to untag and delete, in which order, and what it frees.

Pure except ``file`` (the plan file written for review and read back by ``apply``).
``planner`` builds the plan, ``usage`` the bytes per repository, ``brake`` the safety brake's
judgement of a plan.
"""
