// TEMPORARY stand-ins for APIs being written on other branches; deleted when they are merged.
namespace Broker.Core.Routing
{
    using Broker.Abstractions;
    using Broker.Abstractions.Hooks;
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
}
namespace Broker.Core.AccessControl
{
    using Broker.Abstractions.Hooks;
    using Microsoft.Extensions.Logging;
    internal sealed class BuiltinAccessControl(string passwordFilePath, string aclFilePath, ILogger logger)
    {
        public string P { get; } = passwordFilePath + aclFilePath + logger;
        public ValueTask<HookResult> AuthenticateAsync(ClientAuthenticateContext ctx) => throw new NotImplementedException();
        public ValueTask<HookResult> AuthorizeAsync(ClientAuthorizeContext ctx) => throw new NotImplementedException();
        public void Reload() { }
    }
}
namespace Broker.Core.AccessControl
{
    internal static class PasswdCommand
    {
        public static int Run(string[] args, TextReader stdin, TextWriter stdout, TextWriter stderr, string defaultFile) => throw new NotImplementedException();
    }
}
