using Broker.Abstractions;
using Broker.Abstractions.Hooks;
// TEMPORARY stand-ins for APIs being written on other branches; deleted when they are merged.
namespace Broker.Core.Routing;
    internal interface ISubscriber { string ClientId { get; } bool IsConnected { get; } }
    internal enum SharedSubscriptionStrategy { Random, RoundRobin, Sticky, HashClientId, HashTopic }
    internal struct RouteMatch<TSubscriber> where TSubscriber : class, ISubscriber
    {
        public TSubscriber Subscriber; public MqttQos Qos; public bool RetainAsPublished;
        public List<uint>? SubscriptionIdentifiers; public string? ShareGroup;
    }
    internal sealed class Router<TSubscriber>(SharedSubscriptionStrategy strategy, Random? random = null) where TSubscriber : class, ISubscriber
    {
        public SharedSubscriptionStrategy Strategy { get; } = strategy;
        public Random? Random { get; } = random;
        public bool Subscribe(TSubscriber subscriber, string topicFilter, SubscriptionOptions options) => throw new NotImplementedException();
        public bool Unsubscribe(TSubscriber subscriber, string topicFilter) => throw new NotImplementedException();
        public void Match(string topic, string? publisherId, List<RouteMatch<TSubscriber>> results) => throw new NotImplementedException();
        public int SubscriptionCount => 0;
        public int RouteCount => 0;
    }
