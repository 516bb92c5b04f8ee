using Broker.Abstractions;

namespace Broker.Cluster;

/// <summary>
/// A share group's message that the node chosen for it could not serve goes to another node with members, as EMQX
/// redispatches a shared message whose chosen member is gone.
/// </summary>
/// <remarks>
/// <para>Two ways a forward comes back (<see cref="ReturnedForward"/>): the chosen node's last member of the group left
/// while the message was on its way, and that node says so in its acknowledgement (<see cref="ForwardAck.Unserved"/>);
/// or the node is found down, stops or leaves with the forward unacknowledged (<see cref="ForwardQueue.Forget(List{ReturnedForward})"/>).
/// Each of its groups then goes, alone in a forward of its own (no ordinary subscribers: those were that node's only),
/// to another running node with a route for it, never to one the message was already sent to for it
/// (<see cref="RedispatchTrail"/>), so a message visits each node at most once per group and the attempts end. When no
/// node is left, the group loses it, as before: <c>message.dropped</c> with reason <c>no_subscribers</c>, once.</para>
/// <para>A QoS 1/2 publisher's PUBACK/PUBREC keeps waiting: the forward's waiter moves to the new forward (one group) or
/// completes when every new forward is acknowledged (several), and completes at once when the message is dropped.
/// Ordering: a redispatched message comes after what its new node was sent meanwhile (a share group's messages are in
/// order per member only anyway).</para>
/// <para>Only forwards that named a share group ever come here: an ordinary forward pays nothing.</para>
/// </remarks>
internal static class ShareRedispatch
{
    /// <summary>Nodes one message is tried on for one group, at most (the trail bounds it by the cluster's size already).</summary>
    public const int MaxAttempts = 16;

    /// <summary>What the redispatch did with one returned forward.</summary>
    /// <param name="Queued">Forwards queued for other nodes.</param>
    /// <param name="Dropped">Whether some group of it had no node left (reported to <c>message.dropped</c>).</param>
    public readonly record struct Result(int Queued, bool Dropped);

    /// <summary>
    /// Places each group of <paramref name="returned"/>, which node <paramref name="from"/> could not serve, on another
    /// node (<see cref="IRedispatchTargets.Choose"/>), or reports it dropped.
    /// </summary>
    public static Result Redispatch(ReturnedForward returned, string from, IRedispatchTargets targets)
    {
        BrokerMessage message;
        (string Group, string Filter)[] groups;
        try
        {
            message = ForwardCodec.Decode(returned.Body, out var scope);
            groups = returned.Groups ?? scope.Groups;
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException)
        {
            returned.Waiter?.TrySetResult(); // this node wrote it: cannot happen; never leave a publisher waiting
            return default;
        }
        var trail = new RedispatchTrail(returned.Trail, from);
        var waiter = returned.Waiter;
        List<Task>? waits = null;
        var queued = 0;
        var dropped = false;
        foreach (var pair in groups)
        {
            var body = ForwardCodec.Encode(message, ordinary: false, [pair]);
            // One group: the publisher's waiter itself moves on; several: one each, the publisher's completes after all.
            var own = waiter is null ? null : groups.Length == 1 ? waiter : new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var excluded = trail;
            RemoteNode? node = null;
            while (excluded.Count < MaxAttempts && (node = targets.Choose(pair.Group, pair.Filter, excluded)) is not null)
            {
                if (node.Out.EnqueueRedispatch(body, own, trail.With(node.Name), targets.Now))
                    break;
                excluded = excluded.With(node.Name); // found down just now: the next one
                node = null;
            }
            if (node is null)
            {
                dropped = true;
                continue;
            }
            queued++;
            targets.Queued(node);
            if (own is not null && !ReferenceEquals(own, waiter))
                (waits ??= []).Add(own.Task);
        }
        if (dropped)
            targets.Dropped(message);
        if (waiter is not null && (waits is not null || queued == 0))
        {
            if (waits is null)
                waiter.TrySetResult();
            else
                _ = Task.WhenAll(waits).ContinueWith(static (_, w) => ((TaskCompletionSource)w!).TrySetResult(), waiter,
                    CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        return new Result(queued, dropped);
    }
}

/// <summary>What <see cref="ShareRedispatch"/> needs of the cluster: a node with members of a group, and the rest.</summary>
internal interface IRedispatchTargets
{
    /// <summary>A timestamp for the queue (<see cref="ForwardQueue.EnqueueRedispatch"/>).</summary>
    long Now { get; }

    /// <summary>
    /// A running node with members of <paramref name="group"/> on <paramref name="filter"/> (its route
    /// <c>$share/group/filter</c>) that is not in <paramref name="excluded"/>, the candidates taking turns; null for none.
    /// </summary>
    RemoteNode? Choose(string group, string filter, RedispatchTrail excluded);

    /// <summary><paramref name="node"/> has a forward queued: its forwarding loop wakes.</summary>
    void Queued(RemoteNode node);

    /// <summary>A group of <paramref name="message"/> has no node left: <c>message.dropped</c> (no_subscribers).</summary>
    void Dropped(BrokerMessage message);
}

/// <summary>A forward a node gave back: its bytes, its publisher's waiter (QoS 1/2), where it was before, and the groups to place (null: all it named).</summary>
internal readonly record struct ReturnedForward(byte[] Body, TaskCompletionSource? Waiter, RedispatchTrail? Trail, (string Group, string Filter)[]? Groups);

/// <summary>The nodes (by name) one share-group message was already sent to for its group; immutable, a few names long.</summary>
internal sealed class RedispatchTrail
{
    private readonly string[] _nodes;

    private RedispatchTrail(string[] nodes) => _nodes = nodes;

    /// <summary>The nodes of <paramref name="before"/> (none if null) and <paramref name="node"/>.</summary>
    public RedispatchTrail(RedispatchTrail? before, string node)
        : this(before is null ? [node] : before.Contains(node) ? before._nodes : [.. before._nodes, node])
    {
    }

    public int Count => _nodes.Length;

    public bool Contains(string node) => Array.IndexOf(_nodes, node) >= 0;

    public RedispatchTrail With(string node) => new(this, node);
}
