using Broker.Abstractions;
using Broker.Cluster;
using Broker.Core.Routing;
using Xunit;

namespace Broker.Server.Tests.Cluster;

/// <summary>
/// A share group's message that the node chosen for it could not serve (its last member left meanwhile, or the node is
/// down) goes to another node with members (<see cref="ShareRedispatch"/>), never back to one already tried, and is
/// dropped once when none is left; the publisher's PUBACK waits for the node that has it in the end (issue 24).
/// </summary>
public sealed class ShareRedispatchTests
{
    private static readonly BrokerMessage Message = new()
    {
        Topic = "s/1",
        Payload = "42"u8.ToArray(),
        Qos = MqttQos.AtLeastOnce,
        PublisherId = "pub",
    };

    /// <summary>The cluster as the redispatch sees it: named nodes and the share-group routes each has.</summary>
    private sealed class Targets : IRedispatchTargets
    {
        private readonly List<(RemoteNode Node, HashSet<string> Routes)> _nodes = [];

        public List<BrokerMessage> Dropped { get; } = [];

        public List<string> Woken { get; } = [];

        public long Now => 0;

        public RemoteNode Add(string name, params string[] routes)
        {
            var node = new RemoteNode(name, "boot", "fwd." + name, "snap." + name, DateTimeOffset.UnixEpoch, 1000);
            node.Out.Open();
            _nodes.Add((node, [.. routes]));
            return node;
        }

        public RemoteNode? Choose(string group, string filter, RedispatchTrail excluded)
        {
            var route = RouteNames.Shared(group, filter);
            foreach (var (node, routes) in _nodes)
            {
                if (routes.Contains(route) && !excluded.Contains(node.Name))
                    return node;
            }
            return null;
        }

        public void Queued(RemoteNode node) => Woken.Add(node.Name);

        void IRedispatchTargets.Dropped(BrokerMessage message) => Dropped.Add(message);
    }

    /// <summary>Queues a forward of <see cref="Message"/> for <paramref name="groups"/> (and ordinary subscribers) on <paramref name="node"/>, as Forward does.</summary>
    private static Task Send(RemoteNode node, params (string Group, string Filter)[] groups)
    {
        Assert.True(node.Out.Enqueue(ForwardCodec.Encode(Message, ordinary: true, [.. groups]), reliable: true, 0, out var acked, out _, out _));
        return acked!;
    }

    /// <summary>What <paramref name="node"/> holds: each forward's scope.</summary>
    private static List<DeliveryScope> Held(RemoteNode node)
    {
        var batch = new List<byte[]>();
        node.Out.TakeBatch(int.MaxValue, batch, out _);
        node.Out.Rewind(0); // leave them to be taken again
        var scopes = new List<DeliveryScope>();
        foreach (var body in batch)
        {
            var message = ForwardCodec.Decode(body, out var scope);
            Assert.Equal((Message.Topic, Message.Qos), (message.Topic, message.Qos));
            scopes.Add(scope);
        }
        return scopes;
    }

    private static List<ReturnedForward> NackFirst(RemoteNode node, params (string Group, string Filter)[] unserved)
    {
        var returned = new List<ReturnedForward>();
        node.Out.Acknowledge(1, 1, 0, [new ForwardAck.Unserved(1, unserved)], returned);
        return returned;
    }

    [Fact]
    public void Acknowledge_WithUnservedGroups_HandsThatForwardBack_WithItsWaiterOpen_OthersComplete()
    {
        var targets = new Targets();
        var b = targets.Add("b");
        var first = Send(b, ("g", "s/+"));
        var second = Send(b, ("g", "s/+"));

        var returned = new List<ReturnedForward>();
        b.Out.Acknowledge(2, 2, 0, [new ForwardAck.Unserved(1, [("g", "s/+")])], returned);

        var back = Assert.Single(returned);
        Assert.Equal([("g", "s/+")], back.Groups!);
        Assert.False(first.IsCompleted); // the publisher waits for wherever it goes next
        Assert.True(second.IsCompleted);
        Assert.Equal(0, b.Out.Count);
    }

    [Fact]
    public void Nack_AnotherNodeHasMembers_ItGetsTheMessageForThatGroupOnly_AndThePubackWaitsForIt()
    {
        var targets = new Targets();
        var b = targets.Add("b", "$share/g/s/+");
        var c = targets.Add("c", "$share/g/s/+");
        var puback = Send(b, ("g", "s/+"));

        var result = ShareRedispatch.Redispatch(Assert.Single(NackFirst(b, ("g", "s/+"))), "b", targets);

        Assert.Equal(new ShareRedispatch.Result(1, false), result);
        var scope = Assert.Single(Held(c));
        Assert.False(scope.Ordinary); // b's ordinary subscribers had it: c's are c's own route's business
        Assert.Equal([("g", "s/+")], scope.Groups);
        Assert.Equal(["c"], targets.Woken);
        Assert.Empty(targets.Dropped);
        Assert.False(puback.IsCompleted);

        c.Out.Acknowledge(1, 0);
        Assert.True(puback.IsCompleted);
    }

    [Fact]
    public void Nack_NoOtherNodeHasMembers_DroppedOnce_PubackAtOnce_NothingQueued()
    {
        var targets = new Targets();
        var b = targets.Add("b", "$share/g/s/+");
        var c = targets.Add("c", "s/+"); // ordinary subscribers only: not a member
        var puback = Send(b, ("g", "s/+"));

        var result = ShareRedispatch.Redispatch(Assert.Single(NackFirst(b, ("g", "s/+"))), "b", targets);

        Assert.Equal(new ShareRedispatch.Result(0, true), result);
        Assert.Equal(Message.Topic, Assert.Single(targets.Dropped).Topic);
        Assert.True(puback.IsCompleted);
        Assert.Equal(0, c.Out.Count);
    }

    // b gives it to c, c loses its last member too: it does not go back to b (whose route may still be seen), and is
    // dropped once; the attempts end however the nodes answer.
    [Fact]
    public void Nack_EveryNodeWithMembersTried_NeverLoops_DroppedOnce()
    {
        var targets = new Targets();
        var b = targets.Add("b", "$share/g/s/+");
        var c = targets.Add("c", "$share/g/s/+");
        var puback = Send(b, ("g", "s/+"));

        Assert.Equal(1, ShareRedispatch.Redispatch(Assert.Single(NackFirst(b, ("g", "s/+"))), "b", targets).Queued);
        var fromC = Assert.Single(NackFirst(c, ("g", "s/+")));
        Assert.True(fromC.Trail!.Contains("b") && fromC.Trail.Contains("c"));
        var result = ShareRedispatch.Redispatch(fromC, "c", targets);

        Assert.Equal(new ShareRedispatch.Result(0, true), result);
        Assert.Equal(0, b.Out.Count);
        Assert.Single(targets.Dropped);
        Assert.True(puback.IsCompleted);
    }

    [Fact]
    public void Nack_AChosenNodeFoundDownMeanwhile_TheNextIsTried()
    {
        var targets = new Targets();
        var b = targets.Add("b", "$share/g/s/+");
        var c = targets.Add("c", "$share/g/s/+");
        var d = targets.Add("d", "$share/g/s/+");
        c.Out.Forget(); // down: refuses forwards until it is up again
        Send(b, ("g", "s/+"));

        var result = ShareRedispatch.Redispatch(Assert.Single(NackFirst(b, ("g", "s/+"))), "b", targets);

        Assert.Equal(1, result.Queued);
        Assert.Single(Held(d));
    }

    // Two groups that b could not serve may go to different nodes: the PUBACK waits for both.
    [Fact]
    public async Task Nack_TwoGroups_EachToANodeWithMembers_PubackAfterBoth()
    {
        var targets = new Targets();
        var b = targets.Add("b", "$share/g/s/+", "$share/h/s/#");
        var c = targets.Add("c", "$share/g/s/+");
        var d = targets.Add("d", "$share/h/s/#");
        var puback = Send(b, ("g", "s/+"), ("h", "s/#"));

        var result = ShareRedispatch.Redispatch(Assert.Single(NackFirst(b, ("g", "s/+"), ("h", "s/#"))), "b", targets);

        Assert.Equal(2, result.Queued);
        Assert.Equal([("g", "s/+")], Assert.Single(Held(c)).Groups);
        Assert.Equal([("h", "s/#")], Assert.Single(Held(d)).Groups);
        c.Out.Acknowledge(1, 0);
        Assert.False(puback.IsCompleted);
        d.Out.Acknowledge(1, 0);
        await puback.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
    }

    // The chosen node is found down with the forward unacknowledged: its share-group forwards come back whole (every
    // group they named), ordinary ones are released as before.
    [Fact]
    public void Forget_HandsBackShareGroupForwards_WithWaitersOpen_ReleasesOrdinaryOnes()
    {
        var targets = new Targets();
        var b = targets.Add("b", "$share/g/s/+");
        var c = targets.Add("c", "$share/g/s/+");
        Assert.True(b.Out.Enqueue(ForwardCodec.Encode(Message), reliable: true, 0, out var ordinary, out _, out _));
        var shared = Send(b, ("g", "s/+"));

        var returned = new List<ReturnedForward>();
        Assert.Equal(1, b.Out.Forget(returned));

        Assert.True(ordinary!.IsCompleted);
        var back = Assert.Single(returned);
        Assert.Null(back.Groups);
        Assert.False(shared.IsCompleted);
        Assert.Equal(1, ShareRedispatch.Redispatch(back, "b", targets).Queued);
        Assert.Equal([("g", "s/+")], Assert.Single(Held(c)).Groups);
        c.Out.Acknowledge(1, 0);
        Assert.True(shared.IsCompleted);
    }

    [Fact]
    public void Ack_WithUnservedForwards_RoundTrips()
    {
        Assert.True(ForwardAck.TryDecode(ForwardAck.Encode("recv", "boot", 7, 7, gap: false), out var plain));
        Assert.Null(plain.Unserved);

        var data = ForwardAck.Encode("recv", "boot", 9, 12, gap: true,
            [new ForwardAck.Unserved(3, [("g", "s/+")]), new ForwardAck.Unserved(8, [("$queue", "a/#"), ("h", "s/1")])]);
        Assert.True(ForwardAck.TryDecode(data, out var decoded));
        Assert.Equal(("recv", "boot", 9L, 12L, true), (decoded.ReceiverToken, decoded.SenderBoot, decoded.Acked, decoded.Received, decoded.Gap));
        var unserved = decoded.Unserved!;
        Assert.Equal(2, unserved.Count);
        Assert.Equal((3L, 8L), (unserved[0].Sequence, unserved[1].Sequence));
        Assert.Equal([("g", "s/+")], unserved[0].Groups);
        Assert.Equal([("$queue", "a/#"), ("h", "s/1")], unserved[1].Groups);
    }
}
