using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.Routing;
using Xunit;

namespace Broker.Core.Tests.Routing;

public sealed class RouterSnapshotTests
{
    [Fact]
    public void Snapshot_ListsFiltersAsSubscribed_OptionallyForOneSubscriber()
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var a = new TestSubscriber("a");
        var b = new TestSubscriber("b");
        router.Subscribe(a, "x/+", new SubscriptionOptions(MqttQos.AtLeastOnce, NoLocal: true));
        router.Subscribe(a, "$share/g/jobs/#", new SubscriptionOptions(MqttQos.ExactlyOnce));
        router.Subscribe(b, "$queue/work", new SubscriptionOptions(MqttQos.AtMostOnce));
        router.Subscribe(b, "x/+", new SubscriptionOptions(MqttQos.AtMostOnce));

        var all = router.Snapshot();
        Assert.Equal(4, all.Count);
        Assert.Equal(
            ["a $share/g/jobs/# ExactlyOnce", "a x/+ AtLeastOnce", "b $queue/work AtMostOnce", "b x/+ AtMostOnce"],
            all.Select(s => $"{s.Subscriber.ClientId} {s.TopicFilter} {s.Options.Qos}").Order(StringComparer.Ordinal));

        var onlyA = router.Snapshot(a);
        Assert.All(onlyA, s => Assert.Same(a, s.Subscriber));
        Assert.Equal(2, onlyA.Count);
        Assert.True(onlyA.Single(s => s.TopicFilter == "x/+").Options.NoLocal);

        router.Unsubscribe(a, "x/+");
        Assert.Single(router.Snapshot(a));
    }

    [Fact]
    public void RouteFilters_DistinctFiltersWithoutSharePrefix_GoneWithTheLastSubscriber()
    {
        var router = new Router<TestSubscriber>(SharedSubscriptionStrategy.RoundRobin);
        var a = new TestSubscriber("a");
        var b = new TestSubscriber("b");
        Assert.Empty(router.RouteFilters());
        router.Subscribe(a, "x/+", new SubscriptionOptions(MqttQos.AtLeastOnce));
        router.Subscribe(b, "x/+", new SubscriptionOptions(MqttQos.AtMostOnce));
        router.Subscribe(a, "$share/g/jobs/#", new SubscriptionOptions(MqttQos.ExactlyOnce));
        router.Subscribe(b, "$queue/jobs/#", new SubscriptionOptions(MqttQos.ExactlyOnce));
        router.Subscribe(b, "plain", new SubscriptionOptions(MqttQos.AtMostOnce));

        Assert.Equal(["jobs/#", "plain", "x/+"], router.RouteFilters());
        Assert.Equal(router.RouteCount, router.RouteFilters().Count);

        router.Unsubscribe(a, "x/+");
        Assert.Contains("x/+", router.RouteFilters());
        router.Unsubscribe(b, "x/+");
        router.Unsubscribe(b, "plain");
        Assert.Equal(["jobs/#"], router.RouteFilters());
    }
}
