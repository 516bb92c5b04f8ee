using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Abstractions.Plugins;
using Broker.Core.Sessions;
using Broker.Protocol;

namespace Broker.Core.Plugins;

/// <summary>
/// <see cref="IBrokerServices"/> over the engine: what plugins may do to the broker. One instance serves every
/// plugin; it holds nothing of theirs, so it cannot keep an unloaded plugin alive.
/// </summary>
internal sealed class BrokerServices(BrokerEngine engine) : IBrokerServices
{
    public string NodeName => engine.BrokerOptions.NodeName;

    public async ValueTask<int> PublishAsync(BrokerMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (!MqttTopic.IsValidTopicName(message.Topic))
            throw new ArgumentException($"'{message.Topic}' is not a valid topic name", nameof(message));
        if (message.Timestamp == default || message.OriginNode is null)
        {
            message = message with
            {
                Timestamp = message.Timestamp == default ? engine.Now : message.Timestamp,
                OriginNode = message.OriginNode ?? engine.BrokerOptions.NodeName,
            };
        }
        var outcome = await engine.PublishAsync(message, publisher: null).AsTask().WaitAsync(cancellationToken).ConfigureAwait(false);
        return outcome.Deliveries;
    }

    public bool Subscribe(string clientId, string topicFilter, SubscriptionOptions options)
    {
        ArgumentNullException.ThrowIfNull(clientId);
        ArgumentNullException.ThrowIfNull(topicFilter);
        if (!engine.Sessions.TryGet(clientId, out var session) || session.IsTerminated)
            return false;
        var shared = MqttTopic.TryParseShared(topicFilter, out var group, out var realFilter);
        if (!MqttTopic.IsValidTopicFilter(realFilter) || (shared && group is null))
            return false;
        var granted = (MqttQos)Math.Min((byte)options.Qos, (byte)engine.MqttOptions.MaxQosAllowed);
        options = options with { Qos = granted };
        var isNew = session.AddSubscription(topicFilter, options);
        if (!engine.Hooks.SessionSubscribed.IsEmpty)
        {
            var context = new SessionSubscribedContext(m => session.DeliverRetained(m, options))
            {
                Client = session.Client,
                TopicFilter = realFilter,
                ShareGroup = group,
                Options = options,
                IsNew = isNew,
            };
            _ = engine.Hooks.SessionSubscribed.RunAsync(context);
        }
        return true;
    }


    public bool Unsubscribe(string clientId, string topicFilter)
    {
        ArgumentNullException.ThrowIfNull(clientId);
        ArgumentNullException.ThrowIfNull(topicFilter);
        if (!engine.Sessions.TryGet(clientId, out var session))
            return false;
        if (!session.RemoveSubscription(topicFilter))
            return false;
        if (!engine.Hooks.SessionUnsubscribed.IsEmpty)
        {
            MqttTopic.TryParseShared(topicFilter, out var group, out var realFilter);
            _ = engine.Hooks.SessionUnsubscribed.RunAsync(new SessionUnsubscribedContext { Client = session.Client, TopicFilter = realFilter, ShareGroup = group });
        }
        return true;
    }

    public ClientInfo? FindClient(string clientId) =>
        engine.Sessions.TryGet(clientId, out var session) && session.Channel is { Client: { } client } ? client : null;

    public IReadOnlyList<ClientInfo> ListClients()
    {
        var result = new List<ClientInfo>();
        foreach (var session in engine.Sessions.All)
        {
            if (session.Channel is { Client: { } client })
                result.Add(client);
        }
        return result;
    }

    public IReadOnlyList<SubscriptionInfo> ListSubscriptions(string? clientId = null)
    {
        var result = new List<SubscriptionInfo>();
        if (clientId is not null)
        {
            if (engine.Sessions.TryGet(clientId, out var one))
                AddSubscriptions(one, result);
            return result;
        }
        foreach (var session in engine.Sessions.All)
            AddSubscriptions(session, result);
        return result;
    }

    private static void AddSubscriptions(Session session, List<SubscriptionInfo> result)
    {
        foreach (var (filter, options) in session.SubscriptionsSnapshot())
            result.Add(new SubscriptionInfo(session.ClientId, filter, options));
    }

    public async Task<bool> KickAsync(string clientId)
    {
        if (!engine.Sessions.TryGet(clientId, out var session) || session.Channel is not { } channel)
            return false;
        await channel.CloseAsync(MqttReasonCode.AdministrativeAction, "kicked").ConfigureAwait(false);
        return true;
    }

    public void InvalidateAuthorization() => engine.InvalidateAuthorization();

    public void InvalidateAuthorization(ClientInfo client)
    {
        ArgumentNullException.ThrowIfNull(client);
        BrokerEngine.CleanAuthorizationCache(client);
    }

    public void SetGauge(string name, long value)
    {
        ArgumentNullException.ThrowIfNull(name);
        engine.Metrics.SetGauge(name, value);
    }
}
