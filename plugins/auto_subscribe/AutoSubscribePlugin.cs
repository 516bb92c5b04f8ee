using Microsoft.Extensions.Logging;

namespace Broker.Plugins.AutoSubscribe;

/// <summary>
/// EMQX 4's auto subscription (<c>emqx_mod_subscription</c>): when a client has connected, subscribes it to every
/// configured <c>subscription.N</c> filter, in ascending N, with <c>%c</c> and <c>%u</c> replaced by its client id and
/// user name. The client sends no SUBSCRIBE and gets no SUBACK.
/// </summary>
/// <remarks>
/// The subscriptions are made through <see cref="IBrokerServices.Subscribe"/>: as for a client's own SUBSCRIBE, a
/// subscription with the same filter is replaced and <c>session.subscribed</c> runs (so the retainer sends retained
/// messages by the subscription's retain handling); unlike one, <c>client.subscribe</c> and <c>client.authorize</c>
/// do not run, so neither topic_rewrite nor acl.conf applies: the operator who wrote the filter decided (as in EMQX).
/// A persistent session that is resumed is subscribed again (the subscriptions are replaced, not doubled).
/// </remarks>
public sealed partial class AutoSubscribePlugin : IBrokerPlugin
{
    private IReadOnlyList<AutoSubscription> _subscriptions = [];
    private IBrokerServices? _broker;
    private ILogger _logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    /// <inheritdoc />
    public ValueTask StartAsync(IPluginContext context, CancellationToken cancellationToken)
    {
        _subscriptions = AutoSubscription.From(context.BindOptions<AutoSubscribeOptions>());
        _broker = context.Broker;
        _logger = context.LoggerFactory.CreateLogger("Broker.Plugins.AutoSubscribe");
        if (_subscriptions.Count > 0)
            context.Hooks.Register(HookPoints.ClientConnected, OnConnected, HookPriorities.Default);
        LogStarted(_logger, _subscriptions.Count);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask StopAsync(CancellationToken cancellationToken)
    {
        _broker = null;
        return ValueTask.CompletedTask;
    }

    private ValueTask<HookResult> OnConnected(ClientConnectedContext hook)
    {
        if (hook.Client is { } client && _broker is { } broker)
            SubscribeAll(broker, client);
        return ValueTask.FromResult(HookResult.Continue);
    }

    /// <summary>Subscribes one client to every configured subscription that applies to it.</summary>
    internal void SubscribeAll(IBrokerServices broker, ClientInfo client)
    {
        foreach (var subscription in _subscriptions)
        {
            switch (subscription.TryExpand(client.ClientId, client.Username, out var filter))
            {
                case ExpandStatus.NoUsername:
                    LogNoUsername(_logger, client.ClientId, subscription.Key, subscription.Topic);
                    continue;
                case ExpandStatus.UnsafeValue:
                    LogUnsafeValue(_logger, client.ClientId, subscription.Key, subscription.Topic);
                    continue;
            }
            if (broker.Subscribe(client.ClientId, filter, subscription.Options))
                LogSubscribed(_logger, client.ClientId, filter, (int)subscription.Options.Qos);
            else
                LogNotSubscribed(_logger, client.ClientId, filter); // the session ended in the meantime
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "auto_subscribe: {Count} subscription(s) for every client that connects")]
    private static partial void LogStarted(ILogger logger, int count);

    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "auto_subscribe: subscribed {ClientId} to {Filter} (QoS {Qos})")]
    private static partial void LogSubscribed(ILogger logger, string clientId, string filter, int qos);

    [LoggerMessage(EventId = 3, Level = LogLevel.Debug, Message = "auto_subscribe: client {ClientId} has no user name; {Key} = {Topic} skipped")]
    private static partial void LogNoUsername(ILogger logger, string clientId, string key, string topic);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "auto_subscribe: the client id or user name of {ClientId} holds +, #, / or NUL, which would change what {Key} = {Topic} matches; skipped")]
    private static partial void LogUnsafeValue(ILogger logger, string clientId, string key, string topic);

    [LoggerMessage(EventId = 5, Level = LogLevel.Debug, Message = "auto_subscribe: {ClientId} has no session any more; not subscribed to {Filter}")]
    private static partial void LogNotSubscribed(ILogger logger, string clientId, string filter);
}
