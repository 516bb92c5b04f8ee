using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.Routing;
using Xunit;

namespace Broker.Core.Tests.Routing;

public sealed class RouterTests
{
    private static readonly SubscriptionOptions Qos0 = new(MqttQos.AtMostOnce);
    private static readonly SubscriptionOptions Qos1 = new(MqttQos.AtLeastOnce);

    private static List<RouteMatch<TestSubscriber>> Match(Router<TestSubscriber> router, string topic, string? publisher = null)
    {
        var results = new List<RouteMatch<TestSubscriber>>();
        router.Match(topic, publisher, results);
        return results;
    }

    [Fact]
    public void Subscribe_SameFilterAgain_ReturnsFalseAndReplacesOptions()
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var a = new TestSubscriber("a");

        Assert.True(router.Subscribe(a, "x/+", Qos0));
        Assert.False(router.Subscribe(a, "x/+", Qos1 with { SubscriptionIdentifier = 7 }));

        var match = Assert.Single(Match(router, "x/y"));
        Assert.Equal(MqttQos.AtLeastOnce, match.Qos);
        Assert.Equal([7u], match.SubscriptionIdentifiers!);
        Assert.Equal(1, router.SubscriptionCount);
        Assert.Equal(1, router.RouteCount);
    }

    [Fact]
    public void Subscribe_SharedAndOrdinaryOnSameFilter_AreDistinctSubscriptionsOfOneRoute()
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var a = new TestSubscriber("a");

        Assert.True(router.Subscribe(a, "x/y", Qos0));
        Assert.True(router.Subscribe(a, "$share/g/x/y", Qos1));
        Assert.True(router.Subscribe(a, "$queue/x/y", Qos1));
        Assert.False(router.Subscribe(a, "$share/g/x/y", Qos0));

        Assert.Equal(3, router.SubscriptionCount);
        Assert.Equal(1, router.RouteCount);
        var matches = Match(router, "x/y");
        Assert.Equal(3, matches.Count);
        Assert.Contains(matches, m => m.ShareGroup is null && m.Qos == MqttQos.AtMostOnce);
        Assert.Contains(matches, m => m.ShareGroup == "g" && m.Qos == MqttQos.AtMostOnce);
        Assert.Contains(matches, m => m.ShareGroup == "$queue" && m.Qos == MqttQos.AtLeastOnce);
    }

    [Fact]
    public void Unsubscribe_Missing_ReturnsFalse()
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var a = new TestSubscriber("a");
        router.Subscribe(a, "x/#", Qos0);

        Assert.False(router.Unsubscribe(a, "x/+"));
        Assert.False(router.Unsubscribe(a, "$share/g/x/#"));
        Assert.False(router.Unsubscribe(new TestSubscriber("a"), "x/#")); // same client id, another session object
        Assert.True(router.Unsubscribe(a, "x/#"));
        Assert.False(router.Unsubscribe(a, "x/#"));
    }

    [Fact]
    public void Unsubscribe_Last_PrunesRoutesAndTrieNodes()
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var a = new TestSubscriber("a");
        var b = new TestSubscriber("b");
        string[] filters = ["a/b/c", "a/+/c", "a/#", "+/b/#", "#", "$SYS/+", "a//+/#", "$share/g/a/+/c", "$queue/d/e"];
        foreach (var filter in filters)
        {
            router.Subscribe(a, filter, Qos0);
            router.Subscribe(b, filter, Qos1);
        }
        Assert.Equal(18, router.SubscriptionCount);
        Assert.Equal(8, router.RouteCount); // "a/+/c" is shared by the ordinary and the $share subscriptions
        Assert.True(router.TrieNodeCount > 0);

        foreach (var filter in filters)
            Assert.True(router.Unsubscribe(a, filter));
        Assert.Equal(8, router.RouteCount);
        foreach (var filter in filters)
            Assert.True(router.Unsubscribe(b, filter));

        Assert.Equal(0, router.SubscriptionCount);
        Assert.Equal(0, router.RouteCount);
        Assert.Equal(0, router.TrieNodeCount);
        Assert.Empty(Match(router, "a/b/c"));
    }

    [Fact]
    public void Unsubscribe_Churn_DoesNotGrowTrie()
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var keep = new TestSubscriber("keep");
        router.Subscribe(keep, "devices/+/status", Qos0);
        var baseline = router.TrieNodeCount;
        for (var i = 0; i < 1000; i++)
        {
            var s = new TestSubscriber("c" + i);
            router.Subscribe(s, $"devices/{i}/+/#", Qos0);
            router.Unsubscribe(s, $"devices/{i}/+/#");
        }
        Assert.Equal(baseline, router.TrieNodeCount);
        Assert.Equal(1, router.RouteCount);
    }

    [Fact]
    public void Match_MultiLevelWildcard_MatchesParentLevel()
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var a = new TestSubscriber("a");
        router.Subscribe(a, "sport/tennis/#", Qos0);

        Assert.Single(Match(router, "sport/tennis"));
        Assert.Single(Match(router, "sport/tennis/player1/ranking"));
        Assert.Empty(Match(router, "sport"));
        Assert.Empty(Match(router, "sport/tennisx"));
    }

    [Fact]
    public void Match_LeadingWildcard_DoesNotMatchDollarTopics()
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var a = new TestSubscriber("a");
        router.Subscribe(a, "#", Qos0);
        router.Subscribe(a, "+/monitor/Clients", Qos0);
        router.Subscribe(a, "$share/g/#", Qos0);
        var sys = new TestSubscriber("sys");
        router.Subscribe(sys, "$SYS/#", Qos0);
        router.Subscribe(sys, "$SYS/monitor/+", Qos0);

        var matches = Match(router, "$SYS/monitor/Clients");
        var only = Assert.Single(matches);
        Assert.Same(sys, only.Subscriber);
        Assert.Equal(2, Match(router, "x/monitor/Clients").Count); // a (aggregated) + a via $share
    }

    [Fact]
    public void Match_NoLocal_SkipsOnlyThePublishersOwnSubscription()
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var a = new TestSubscriber("a");
        var b = new TestSubscriber("b");
        router.Subscribe(a, "t", Qos0 with { NoLocal = true });
        router.Subscribe(a, "t/#", Qos1);
        router.Subscribe(b, "t", Qos0 with { NoLocal = true });

        var fromA = Match(router, "t", "a");
        Assert.Equal(2, fromA.Count);
        Assert.Equal(MqttQos.AtLeastOnce, fromA.Single(m => m.Subscriber == a).Qos); // only "t/#" counted
        Assert.Equal(2, Match(router, "t", null).Count);
        router.Unsubscribe(a, "t/#");
        Assert.Same(b, Assert.Single(Match(router, "t", "a")).Subscriber);
    }

    [Fact]
    public void Match_AppendsWithoutTouchingExistingEntries()
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var a = new TestSubscriber("a");
        router.Subscribe(a, "t/+", Qos0);
        router.Subscribe(a, "t/#", Qos1);
        var results = new List<RouteMatch<TestSubscriber>> { new() { Subscriber = a, Qos = MqttQos.AtMostOnce } };

        router.Match("t/x", null, results);

        Assert.Equal(2, results.Count);
        Assert.Equal(MqttQos.AtMostOnce, results[0].Qos);
        Assert.Equal(MqttQos.AtLeastOnce, results[1].Qos);
    }

    [Fact]
    public void Subscribe_MalformedFilter_Throws()
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var a = new TestSubscriber("a");
        Assert.Throws<ArgumentException>(() => router.Subscribe(a, "a/#/b", Qos0));
        Assert.Throws<ArgumentException>(() => router.Subscribe(a, "$share//a", Qos0));
        Assert.Throws<ArgumentException>(() => router.Subscribe(a, "$share/g", Qos0));
        Assert.Throws<ArgumentException>(() => router.Subscribe(a, "", Qos0));
        Assert.Equal(0, router.SubscriptionCount);
        Assert.False(router.Unsubscribe(a, "a/#/b"));
        Assert.False(router.Unsubscribe(a, "$share//a"));
    }

    [Fact]
    public void Match_WithoutSubscriptionIdentifiers_DoesNotAllocate()
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var subscribers = new TestSubscriber[40];
        for (var i = 0; i < subscribers.Length; i++)
        {
            subscribers[i] = new TestSubscriber("c" + i);
            router.Subscribe(subscribers[i], "a/b/c", Qos0);
            router.Subscribe(subscribers[i], i % 2 == 0 ? "a/+/c" : "a/#", Qos1);
            router.Subscribe(subscribers[i], "$share/g/a/+/+", Qos1);
        }
        var results = new List<RouteMatch<TestSubscriber>>(256);
        for (var i = 0; i < 10; i++)
        {
            results.Clear();
            router.Match("a/b/c", "c1", results); // warm up the per-thread scratch
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            results.Clear();
            router.Match("a/b/c", "c1", results);
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(41, results.Count);
    }

    private static List<TestSubscriber> MatchWithMemo(Router<TestSubscriber> router, string topic, ref object? memo)
    {
        var results = new List<RouteMatch<TestSubscriber>>();
        router.Match(topic, null, results, ref memo);
        return [.. results.Select(r => r.Subscriber)];
    }

    [Fact]
    public void Match_WithMemo_SameTopicAgain_ReusesTheMemoAndFindsWhatTheDictionaryHolds()
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var a = new TestSubscriber("a");
        router.Subscribe(a, "dev/1/up", Qos0);
        object? memo = null;

        Assert.Equal([a], MatchWithMemo(router, "dev/1/up", ref memo));
        var first = memo;
        Assert.Equal([a], MatchWithMemo(router, "dev/1/up", ref memo));

        Assert.NotNull(first);
        Assert.Same(first, memo); // no second lookup, no new memo
    }

    [Fact]
    public void Match_WithMemo_ATopicSubscribedAfterTheMemo_IsFound()
    {
        // Fails if adding an exact filter does not invalidate memos: the memo says "no exact route for this topic".
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var a = new TestSubscriber("a");
        object? memo = null;
        Assert.Empty(MatchWithMemo(router, "dev/1/up", ref memo));

        router.Subscribe(a, "dev/1/up", Qos0);

        Assert.Equal([a], MatchWithMemo(router, "dev/1/up", ref memo));
    }

    [Fact]
    public void Match_WithMemo_ARouteRemovedAndCreatedAgain_FindsTheNewSubscriber()
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var a = new TestSubscriber("a");
        var b = new TestSubscriber("b");
        router.Subscribe(a, "dev/1/up", Qos0);
        object? memo = null;
        Assert.Equal([a], MatchWithMemo(router, "dev/1/up", ref memo));

        router.Unsubscribe(a, "dev/1/up");
        Assert.Empty(MatchWithMemo(router, "dev/1/up", ref memo));
        router.Subscribe(b, "dev/1/up", Qos0); // a new route object in the dictionary

        Assert.Equal([b], MatchWithMemo(router, "dev/1/up", ref memo));
    }

    [Fact]
    public void Match_WithMemo_ASecondSubscriberOfAnExistingRoute_AndAnotherTopic_AreSeen()
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var a = new TestSubscriber("a");
        var b = new TestSubscriber("b");
        router.Subscribe(a, "dev/1/up", Qos0);
        router.Subscribe(b, "dev/2/up", Qos0);
        object? memo = null;
        Assert.Equal([a], MatchWithMemo(router, "dev/1/up", ref memo));

        router.Subscribe(b, "dev/1/up", Qos0); // the same route, changed in place

        Assert.Equal([a, b], MatchWithMemo(router, "dev/1/up", ref memo).OrderBy(s => s.ClientId));
        Assert.Equal([b], MatchWithMemo(router, "dev/2/up", ref memo));
        Assert.Equal([a, b], MatchWithMemo(router, "dev/1/up", ref memo).OrderBy(s => s.ClientId));
    }
}
