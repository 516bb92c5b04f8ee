using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.Routing;
using Xunit;

namespace Broker.Core.Tests.Routing;

public sealed class RouterSharedTests
{
    private static readonly SubscriptionOptions Qos1 = new(MqttQos.AtLeastOnce);

    private static (Router<TestSubscriber> Router, TestSubscriber[] Members) Group(
        SharedSubscriptionStrategy strategy, int members, Random? random = null)
    {
        var router = new Router<TestSubscriber>(strategy, random);
        var subscribers = new TestSubscriber[members];
        for (var i = 0; i < members; i++)
        {
            subscribers[i] = new TestSubscriber("m" + i);
            router.Subscribe(subscribers[i], "$share/g/sensors/+/temp", Qos1);
        }
        return (router, subscribers);
    }

    private static TestSubscriber One(Router<TestSubscriber> router, string topic = "sensors/1/temp", string? publisher = "p")
    {
        var results = new List<RouteMatch<TestSubscriber>>();
        router.Match(topic, publisher, results);
        var match = Assert.Single(results);
        Assert.Equal("g", match.ShareGroup);
        return match.Subscriber;
    }

    private static int[] Histogram(Router<TestSubscriber> router, TestSubscriber[] members, int messages)
    {
        var counts = new int[members.Length];
        for (var i = 0; i < messages; i++)
            counts[Array.IndexOf(members, One(router))]++;
        return counts;
    }

    [Fact]
    public void RoundRobin_RotatesExactly()
    {
        var (router, m) = Group(SharedSubscriptionStrategy.RoundRobin, 3);
        var order = new List<TestSubscriber>();
        for (var i = 0; i < 7; i++)
            order.Add(One(router));
        Assert.Equal([m[0], m[1], m[2], m[0], m[1], m[2], m[0]], order);
    }

    [Fact]
    public void RoundRobin_SkipsDisconnectedMemberWithoutDoublingTheNext()
    {
        var (router, m) = Group(SharedSubscriptionStrategy.RoundRobin, 3);
        m[1].IsConnected = false;
        var order = new List<TestSubscriber>();
        for (var i = 0; i < 6; i++)
            order.Add(One(router));
        Assert.Equal([m[0], m[2], m[0], m[2], m[0], m[2]], order);
    }

    [Fact]
    public void Random_IsRoughlyUniformOverConnectedMembers()
    {
        var (router, m) = Group(SharedSubscriptionStrategy.Random, 4, new Random(42));
        var counts = Histogram(router, m, 4000);
        foreach (var count in counts)
            Assert.InRange(count, 850, 1150);

        m[3].IsConnected = false;
        counts = Histogram(router, m, 3000);
        Assert.Equal(0, counts[3]);
        for (var i = 0; i < 3; i++)
            Assert.InRange(counts[i], 850, 1150);
    }

    [Fact]
    public void Sticky_StaysUntilTheMemberDisconnectsOrLeaves()
    {
        var (router, m) = Group(SharedSubscriptionStrategy.Sticky, 4, new Random(7));
        var first = One(router);
        for (var i = 0; i < 50; i++)
            Assert.Same(first, One(router));

        first.IsConnected = false;
        var second = One(router);
        Assert.NotSame(first, second);
        first.IsConnected = true; // coming back does not take the group back
        for (var i = 0; i < 50; i++)
            Assert.Same(second, One(router));

        Assert.True(router.Unsubscribe(second, "$share/g/sensors/+/temp"));
        var third = One(router);
        Assert.NotSame(second, third);
        for (var i = 0; i < 50; i++)
            Assert.Same(third, One(router));
        Assert.Contains(third, m);
    }

    [Fact]
    public void Sticky_SurvivesOptionsReplacement()
    {
        var (router, _) = Group(SharedSubscriptionStrategy.Sticky, 3, new Random(3));
        var first = One(router);
        Assert.False(router.Subscribe(first, "$share/g/sensors/+/temp", new SubscriptionOptions(MqttQos.ExactlyOnce)));
        Assert.Same(first, One(router));
    }

    [Fact]
    public void HashClientId_IsStablePerPublisherAndSpreadsPublishers()
    {
        var (router, m) = Group(SharedSubscriptionStrategy.HashClientId, 4);
        var chosen = new HashSet<TestSubscriber>();
        for (var p = 0; p < 40; p++)
        {
            var publisher = "publisher-" + p;
            var member = One(router, "sensors/" + p + "/temp", publisher);
            for (var i = 0; i < 5; i++)
                Assert.Same(member, One(router, "sensors/" + i + "/temp", publisher));
            chosen.Add(member);
        }
        Assert.True(chosen.Count >= 3, $"40 publishers landed on only {chosen.Count} of {m.Length} members");

        // Same hash in a new router: stable across instances (and processes: FNV-1a, not string.GetHashCode).
        var (again, m2) = Group(SharedSubscriptionStrategy.HashClientId, 4);
        Assert.Equal(Array.IndexOf(m, One(router, publisher: "x")), Array.IndexOf(m2, One(again, publisher: "x")));
    }

    [Fact]
    public void HashTopic_IsStablePerTopicAndSpreadsTopics()
    {
        var (router, m) = Group(SharedSubscriptionStrategy.HashTopic, 4);
        var chosen = new HashSet<TestSubscriber>();
        for (var t = 0; t < 40; t++)
        {
            var topic = "sensors/" + t + "/temp";
            var member = One(router, topic, "p0");
            for (var p = 0; p < 5; p++)
                Assert.Same(member, One(router, topic, "p" + p));
            chosen.Add(member);
        }
        Assert.True(chosen.Count >= 3, $"40 topics landed on only {chosen.Count} of {m.Length} members");
    }

    [Fact]
    public void EveryStrategy_SkipsDisconnectedMembers_AndFallsBackToAllWhenNoneConnected()
    {
        foreach (var strategy in Enum.GetValues<SharedSubscriptionStrategy>())
            SkipsDisconnectedMembers(strategy);
    }

    private static void SkipsDisconnectedMembers(SharedSubscriptionStrategy strategy)
    {
        var (router, m) = Group(strategy, 5, new Random(11));
        foreach (var member in m)
            member.IsConnected = false;
        m[3].IsConnected = true;
        for (var i = 0; i < 30; i++)
            Assert.Same(m[3], One(router, "sensors/" + i + "/temp", "p" + i));

        m[3].IsConnected = false;
        for (var i = 0; i < 30; i++)
            Assert.Contains(One(router, "sensors/" + i + "/temp", "p" + i), m);
    }

    [Fact]
    public void Match_OneDeliveryPerGroupAndFilter_SeparateFromOrdinary()
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var a = new TestSubscriber("a");
        var b = new TestSubscriber("b");
        router.Subscribe(a, "$share/g/t/+", Qos1);
        router.Subscribe(b, "$share/g/t/+", Qos1);
        router.Subscribe(a, "$share/h/t/+", Qos1);
        router.Subscribe(a, "$share/g/t/#", Qos1); // same group name, another filter: its own delivery
        router.Subscribe(a, "t/+", new SubscriptionOptions(MqttQos.AtMostOnce, SubscriptionIdentifier: 9));

        var results = new List<RouteMatch<TestSubscriber>>();
        router.Match("t/x", "a", results);

        Assert.Equal(4, results.Count);
        Assert.Equal(1, results.Count(r => r.ShareGroup is null));
        Assert.Equal(2, results.Count(r => r.ShareGroup == "g"));
        Assert.Equal(1, results.Count(r => r.ShareGroup == "h"));
        Assert.All(results, r => Assert.Equal(r.ShareGroup is null ? MqttQos.AtMostOnce : MqttQos.AtLeastOnce, r.Qos));
    }

    [Fact]
    public void Match_SharedSubscriptionIdentifier_CarriedOnTheDelivery()
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var a = new TestSubscriber("a");
        router.Subscribe(a, "$queue/q", new SubscriptionOptions(MqttQos.AtLeastOnce, RetainAsPublished: true, SubscriptionIdentifier: 5));

        var results = new List<RouteMatch<TestSubscriber>>();
        router.Match("q", null, results);

        var match = Assert.Single(results);
        Assert.Equal("$queue", match.ShareGroup);
        Assert.True(match.RetainAsPublished);
        Assert.Equal([5u], match.SubscriptionIdentifiers!);
    }

    [Fact]
    public void Unsubscribe_LastMember_RemovesGroupAndRoute()
    {
        var (router, m) = Group(SharedSubscriptionStrategy.RoundRobin, 2);
        Assert.True(router.Unsubscribe(m[0], "$share/g/sensors/+/temp"));
        Assert.Same(m[1], One(router));
        Assert.True(router.Unsubscribe(m[1], "$share/g/sensors/+/temp"));

        var results = new List<RouteMatch<TestSubscriber>>();
        router.Match("sensors/1/temp", null, results);
        Assert.Empty(results);
        Assert.Equal(0, router.RouteCount);
        Assert.Equal(0, router.TrieNodeCount);
    }
}
