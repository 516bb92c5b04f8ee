using Broker.Abstractions;

namespace Broker.Core.Routing;

/// <summary>
/// Told when a route appears and when it goes, as EMQX's route table changes. A topic filter's ordinary
/// subscriptions are one route, named by the filter: it appears with the first and goes with the last (a filter with
/// 10k subscribers is one route). Each share group on a filter is a route of its own, named
/// <c>$share/{group}/{filter}</c> (<see cref="RouteNames.Shared"/>; <c>$queue/f</c> is <c>$share/$queue/f</c>): it
/// appears with the group's first member and goes with its last. So <c>a/b</c>, <c>$share/g1/a/b</c> and
/// <c>$share/g2/a/b</c> are three routes, and a cluster can tell which node has members of which group.
/// </summary>
/// <remarks>
/// Called under the router's write lock, in the order the changes happen, so an observer that queues what it is told
/// sees adds and removes of one route in order. It must not block and must not call back into the router.
/// </remarks>
public interface IRouteObserver
{
    void RouteAdded(string route);

    void RouteRemoved(string route);
}

/// <summary>The names of routes as <see cref="IRouteObserver"/> reports them.</summary>
public static class RouteNames
{
    /// <summary>The route of share group <paramref name="group"/> on <paramref name="filter"/>: <c>$share/{group}/{filter}</c>.</summary>
    public static string Shared(string group, string filter) => string.Concat(Topics.SharePrefix, group, "/", filter);
}
