namespace Broker.Core.Routing;

/// <summary>
/// Told when a topic filter gets its first subscription (a route appears) and when it loses its last one (the route
/// goes), as EMQX's route table changes: a filter with 10k subscribers is one route. Share prefixes are removed, so
/// <c>$share/g/a/b</c> and <c>a/b</c> are one route <c>a/b</c>.
/// </summary>
/// <remarks>
/// Called under the router's write lock, in the order the changes happen, so an observer that queues what it is told
/// sees adds and removes of one filter in order. It must not block and must not call back into the router.
/// </remarks>
internal interface IRouteObserver
{
    void RouteAdded(string filter);

    void RouteRemoved(string filter);
}
