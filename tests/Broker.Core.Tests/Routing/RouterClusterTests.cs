using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.Routing;
using Xunit;

namespace Broker.Core.Tests.Routing;

/// <summary>
/// What the router tells the cluster (<see cref="IRouteObserver"/>) and how it matches a message another node forwarded
/// (<see cref="DeliveryScope"/>): issue 24, "$share groups span nodes".
/// </summary>
public sealed class RouterClusterTests
{
    private static readonly SubscriptionOptions Qos1 = new(MqttQos.AtLeastOnce);

    private sealed class RecordingObserver : IRouteObserver
    {
        public List<string> Events { get; } = [];

        public void RouteAdded(string route) => Events.Add("+" + route);

        public void RouteRemoved(string route) => Events.Add("-" + route);
    }

    // EMQX replicates a $share route with its group, apart from the filter's ordinary route, so other nodes know which
    // node has members of which group; a route goes with its last subscription.
    [Fact]
    public void Observe_OrdinaryAndEachShareGroup_AreSeparateRoutes_AddedByTheFirstRemovedByTheLast()
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var a = new TestSubscriber("a");
        var b = new TestSubscriber("b");
        router.Subscribe(a, "x/+", Qos1);
        router.Subscribe(a, "$share/g/x/+", Qos1);
        var observer = new RecordingObserver();

        Assert.Equal(["$share/g/x/+", "x/+"], router.Observe(observer).Order(StringComparer.Ordinal));

        router.Subscribe(b, "$share/g/x/+", Qos1); // a second member: no new route
        router.Subscribe(b, "$share/h/x/+", Qos1);
        router.Subscribe(b, "$queue/x/+", Qos1);
        router.Subscribe(b, "x/+", Qos1); // a second ordinary subscriber: no new route
        router.Unsubscribe(a, "$share/g/x/+");
        router.Unsubscribe(a, "x/+");
        router.Unsubscribe(b, "x/+");
        router.Unsubscribe(b, "$share/g/x/+");

        Assert.Equal(["+$share/h/x/+", "+$share/$queue/x/+", "-x/+", "-$share/g/x/+"], observer.Events);
        Assert.Equal(1, router.RouteCount); // the filter itself is one route for $SYS, as before
    }

    // A plugin's internal subscription (matched apart from the sessions) holds its filter's route, so other nodes
    // forward its messages here: one route whether sessions, holds or both have it, going with the last of them.
    [Theory]
    [InlineData("x/y")]
    [InlineData("x/+/#")]
    public void HoldRoute_SharesTheOrdinaryRoute_WithSubscribers_AddedByTheFirstRemovedByTheLast(string filter)
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var a = new TestSubscriber("a");
        router.HoldRoute("held/only");
        var observer = new RecordingObserver();

        Assert.Equal(["held/only"], router.Observe(observer));

        router.HoldRoute(filter);
        router.HoldRoute(filter); // a second hold: no new route
        router.Subscribe(a, filter, Qos1); // a subscriber beside the holds: no new route
        router.ReleaseRoute(filter);
        router.ReleaseRoute(filter); // a subscriber still has it
        router.ReleaseRoute(filter); // one release too many changes nothing
        router.HoldRoute(filter);
        router.Unsubscribe(a, filter); // held still
        router.ReleaseRoute(filter);
        router.ReleaseRoute("held/only");

        Assert.Equal(["+" + filter, "-" + filter, "-held/only"], observer.Events);
        Assert.Equal(0, router.RouteCount); // holds are not subscriptions: $SYS counts neither
    }

    // A node chosen for group g serves g only: not its other groups (another node, or the publisher's node, serves
    // those) and not its ordinary subscribers unless the sender saw their route.
    [Fact]
    public void Match_WithScope_OnlyTheNamedGroupsAndOrdinaryIfAsked()
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var plain = new TestSubscriber("plain");
        var g = new TestSubscriber("g");
        var h = new TestSubscriber("h");
        router.Subscribe(plain, "x/#", Qos1);
        router.Subscribe(g, "$share/g/x/#", Qos1);
        router.Subscribe(g, "$share/g/x/y", Qos1);
        router.Subscribe(h, "$share/h/x/#", Qos1);

        var groupOnly = new List<RouteMatch<TestSubscriber>>();
        router.Match("x/y", null, groupOnly, new DeliveryScope(false, [("g", "x/#")]));
        var match = Assert.Single(groupOnly);
        Assert.Same(g, match.Subscriber);
        Assert.Equal("x/#", match.Group!.Filter);

        var both = new List<RouteMatch<TestSubscriber>>();
        router.Match("x/y", null, both, new DeliveryScope(true, [("h", "x/#")]));
        Assert.Equal([plain, h], both.Select(m => m.Subscriber));

        // Chosen for a group whose last member here left while the message was on its way: nobody here gets it.
        router.Unsubscribe(h, "$share/h/x/#");
        var gone = new List<RouteMatch<TestSubscriber>>();
        router.Match("x/y", null, gone, new DeliveryScope(false, [("h", "x/#")]));
        Assert.Empty(gone);

        var ordinary = new List<RouteMatch<TestSubscriber>>();
        router.Match("x/y", null, ordinary, DeliveryScope.OrdinaryOnly);
        Assert.Same(plain, Assert.Single(ordinary).Subscriber);

        // Without a scope (published here), everything, share groups last (the cluster looks for them there).
        var all = new List<RouteMatch<TestSubscriber>>();
        router.Match("x/y", null, all);
        Assert.Equal(3, all.Count);
        Assert.Null(all[0].Group);
        Assert.All(all.Skip(1), m => Assert.NotNull(m.Group));
    }

    // The receiving node tells the sender which named groups it had no member of (their last left while the message was
    // on its way), so the sender chooses another node for those; the groups it served are not named.
    [Fact]
    public void NoteUnserved_NamesTheScopedGroupsWithoutAMemberHere_Only()
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var plain = new TestSubscriber("plain");
        var g = new TestSubscriber("g");
        router.Subscribe(plain, "x/#", Qos1);
        router.Subscribe(g, "$share/g/x/#", Qos1);

        var scope = new DeliveryScope(true, [("g", "x/#"), ("h", "x/#")]);
        var matches = new List<RouteMatch<TestSubscriber>>();
        router.Match("x/y", null, matches, scope);
        scope.NoteUnserved(matches);
        Assert.Equal([("h", "x/#")], scope.Unserved!);

        var served = new DeliveryScope(false, [("g", "x/#")]);
        matches.Clear();
        router.Match("x/y", null, matches, served);
        served.NoteUnserved(matches);
        Assert.Null(served.Unserved);
    }
}
