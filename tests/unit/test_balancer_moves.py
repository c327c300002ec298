"""The balancer's move selection (dfs.namenode.balancer.plan_moves): toward the mean, never breaking a rule."""

from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from dfs.namenode.balancer import MOVES_PER_ROUND, balanced, keeps_racks, mean_utilization, planning, utilization

MB = 1024 * 1024


def plan_moves(nodes, blocks, threshold, limit=MOVES_PER_ROUND):
    """``planning``'s moves, all at once; ``blocks``: {block id: (size, the nodes that hold a replica that counts)}."""
    moves = []
    for _ in planning(nodes, blocks.get, threshold, moves, limit):
        pass
    return moves


def node(node_id, capacity=100 * MB, rack="/r1"):
    return SimpleNamespace(id=node_id, rack=rack, capacity=capacity, used=0, free=capacity, blocks=set(), edits=0)


def place(blocks, block_id, size, *holders):
    """Put a block of ``size`` bytes on ``holders``; ``blocks`` is what plan_moves takes."""
    for n in holders:
        n.blocks.add(block_id)
        n.used += size
        n.free -= size
    blocks[block_id] = (size, list(holders))


def apply(moves, nodes, blocks):
    """The cluster after ``moves``, checking each against the rules as it goes."""
    by_id = {n.id: n for n in nodes}
    for move in moves:
        source, target = by_id[move.source.id], by_id[move.target.id]
        size, holders = blocks[move.block_id]
        assert move.block_id in source.blocks and move.block_id not in target.blocks
        assert target.free >= size
        after = [n for n in holders if n is not source] + [target]
        assert keeps_racks([n.rack for n in holders], [n.rack for n in after])
        source.blocks.discard(move.block_id)
        target.blocks.add(move.block_id)
        source.used -= size
        source.free += size
        target.used += size
        target.free -= size
        blocks[move.block_id] = (size, after)


def filled_cluster(count=3, blocks_each=40, size=MB, replication=3):
    nodes, blocks = [node(f"dn{i}") for i in range(count)], {}
    for b in range(blocks_each):
        place(blocks, f"b{b:03d}", size, *[nodes[(b + k) % count] for k in range(replication)])
    return nodes, blocks


def test_a_balanced_cluster_moves_nothing():
    nodes, blocks = filled_cluster()
    assert balanced(nodes, 10)
    assert plan_moves(nodes, blocks, 10) == []


def test_replicas_move_onto_a_new_empty_node_until_all_are_within_the_threshold():
    nodes, blocks = filled_cluster()  # 40% each
    nodes.append(node("new"))
    moves = plan_moves(nodes, blocks, 10, limit=1000)
    assert moves and all(m.target.id == "new" for m in moves)
    assert len({m.block_id for m in moves}) == len(moves)  # a block moves once a round
    apply(moves, nodes, blocks)
    assert balanced(nodes, 10)
    mean = mean_utilization(nodes)
    assert all(abs(utilization(n.used, n.capacity) - mean) <= 10 for n in nodes)
    assert all(len(holders) == 3 for _, holders in blocks.values())


def test_a_round_plans_at_most_its_limit():
    nodes, blocks = filled_cluster()
    nodes.append(node("new"))
    assert len(plan_moves(nodes, blocks, 10, limit=5)) == 5


def test_nodes_within_the_threshold_of_each_other_are_left_alone():
    nodes, blocks = filled_cluster(count=2, replication=1)  # 20% each
    place(blocks, "extra", 8 * MB, nodes[0])  # 28% against 20%: 4 points from the mean of 24
    assert plan_moves(nodes, blocks, 5) == []
    assert plan_moves(nodes, blocks, 3)  # beyond a threshold of 3


def test_a_block_in_two_racks_never_ends_in_one():
    a1, b1, a2 = node("a1", rack="/a"), node("b1", rack="/b"), node("a2", rack="/a")
    blocks = {}
    for i in range(30):
        place(blocks, f"x{i}", MB, a1, b1)  # every block in both racks
    moves = plan_moves([a1, b1, a2], blocks, 10, limit=1000)
    assert moves
    # b1's replicas would leave rack /b: only a1's go to a2, its rack's new node.
    assert all(m.source.id == "a1" and m.target.id == "a2" for m in moves)


def test_a_block_in_one_rack_may_spread_but_keeps_its_replicas():
    a1, a2, b1 = node("a1", rack="/a"), node("a2", rack="/a"), node("b1", rack="/b")
    blocks = {}
    for i in range(30):
        place(blocks, f"x{i}", MB, a1, a2)
    moves = plan_moves([a1, a2, b1], blocks, 10, limit=1000)
    apply(moves, [a1, a2, b1], blocks)
    assert balanced([a1, a2, b1], 10)


def test_a_target_without_room_gets_nothing():
    nodes, blocks = filled_cluster()
    small = node("small", capacity=100 * MB)
    small.free = MB // 2  # its disk is shared and nearly full, whatever its capacity says
    nodes.append(small)
    assert plan_moves(nodes, blocks, 10) == []


def test_blocks_not_offered_do_not_move():
    nodes, blocks = filled_cluster()
    nodes.append(node("new"))
    offered = {b: v for b, v in blocks.items() if b < "b010"}
    moves = plan_moves(nodes, offered, 10, limit=1000)
    assert {m.block_id for m in moves} <= set(offered)


def test_keeps_racks():
    assert keeps_racks(["/a", "/b"], ["/a", "/c"])
    assert keeps_racks(["/a", "/b", "/c"], ["/a", "/b"])
    assert not keeps_racks(["/a", "/b"], ["/a", "/a"])
    assert keeps_racks(["/a", "/a"], ["/a", "/b"])
    assert keeps_racks(["/a"], ["/a"])


@st.composite
def clusters(draw):
    racks = draw(st.lists(st.sampled_from(["/a", "/b", "/c"]), min_size=2, max_size=6))
    nodes = [node(f"n{i}", capacity=draw(st.integers(20, 200)) * MB, rack=rack) for i, rack in enumerate(racks)]
    blocks = {}
    for b in range(draw(st.integers(0, 60))):
        holders = draw(st.lists(st.sampled_from(nodes), min_size=1, max_size=3, unique_by=lambda n: n.id))
        size = draw(st.integers(1, 4)) * MB
        if all(n.free >= size for n in holders):
            place(blocks, f"b{b}", size, *holders)
    return nodes, blocks, draw(st.integers(1, 30))


def spread(nodes):
    """What every move lowers: the sum over nodes of capacity × utilization²."""
    return sum(utilization(n.used, n.capacity) ** 2 * n.capacity for n in nodes)


@settings(max_examples=60, deadline=None)
@given(clusters())
def test_every_move_keeps_the_rules_and_narrows_the_spread(cluster):
    nodes, blocks, threshold = cluster
    replicas = {b: len(holders) for b, (_, holders) in blocks.items()}
    for _ in range(5):  # a few rounds, each planned on the last one's outcome
        moves = plan_moves(nodes, blocks, threshold, limit=20)
        if not moves:
            break
        for move in moves:
            before = spread(nodes)
            apply([move], nodes, blocks)
            assert spread(nodes) < before
    assert replicas == {b: len(holders) for b, (_, holders) in blocks.items()}
