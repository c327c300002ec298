"""Long work written as a generator of steps, run at once or by a cooperator that interleaves the steps with the
reactor's other work; either way, what the generator returns is the answer."""


def run_to_end(steps):
    """Run the generator ``steps`` to its end now; what it returns."""
    while True:
        try:
            next(steps)
        except StopIteration as end:
            return end.value


async def in_steps(cooperator, steps):
    """Run the generator ``steps`` in ``cooperator``'s turns (twisted.internet.task's, or a Cooperator); what it
    returns. The first step runs at once: work of one step is done without waiting for a turn."""
    try:
        next(steps)
    except StopIteration as end:
        return end.value
    answer = []

    def keeping_the_answer():
        answer.append((yield from steps))

    await cooperator.cooperate(keeping_the_answer()).whenDone()
    return answer[0]
