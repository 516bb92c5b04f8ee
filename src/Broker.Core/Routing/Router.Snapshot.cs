using Broker.Abstractions.Hooks;
using Broker.Protocol;

namespace Broker.Core.Routing;

/// <summary>One subscription as listed by the management API: the filter as the client wrote it.</summary>
/// <typeparam name="TSubscriber">The session type.</typeparam>
internal readonly record struct SubscriptionSnapshot<TSubscriber>(TSubscriber Subscriber, string TopicFilter, SubscriptionOptions Options)
    where TSubscriber : class, ISubscriber;

internal sealed partial class Router<TSubscriber>
{
    /// <summary>
    /// Copies every subscription, or only <paramref name="only"/>'s, under the write lock, so a listing never sees a
    /// half-made change. For operators' listings (management API), not for the publish path: it blocks
    /// subscribes and unsubscribes for the length of the copy.
    /// </summary>
    public List<SubscriptionSnapshot<TSubscriber>> Snapshot(TSubscriber? only = null)
    {
        lock (_writeLock)
        {
            var result = new List<SubscriptionSnapshot<TSubscriber>>(only is null ? _subscriptions.Count : 8);
            foreach (var subscription in _subscriptions.Values)
            {
                if (only is not null && !ReferenceEquals(subscription.Subscriber, only))
                    continue;
                var filter = subscription.Route.Filter;
                var topic = subscription.Group?.Name switch
                {
                    null => filter,
                    MqttTopic.QueueGroup => MqttTopic.QueuePrefix + filter,
                    var group => MqttTopic.SharePrefix + group + "/" + filter,
                };
                result.Add(new SubscriptionSnapshot<TSubscriber>(subscription.Subscriber, topic, subscription.Options));
            }
            return result;
        }
    }

    /// <summary>
    /// The routes: every distinct topic filter (share prefix removed, as <see cref="RouteCount"/> counts them) with at
    /// least one subscription, sorted ordinally. Copied under the write lock, for operators' listings only.
    /// </summary>
    public List<string> RouteFilters()
    {
        lock (_writeLock)
        {
            var filters = new HashSet<string>(StringComparer.Ordinal);
            foreach (var subscription in _subscriptions.Values)
                filters.Add(subscription.Route.Filter);
            var result = new List<string>(filters);
            result.Sort(StringComparer.Ordinal);
            return result;
        }
    }
}
