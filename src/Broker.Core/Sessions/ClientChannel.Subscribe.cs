using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Protocol;

namespace Broker.Core.Sessions;

internal sealed partial class ClientChannel
{
    private async ValueTask HandleSubscribeAsync(MqttSubscribePacket packet)
    {
        var session = _session!;
        var mqtt = _engine.MqttOptions;
        var v5 = _version == MqttProtocolVersion.V500;
        var subscriptionId = packet.Properties?.SubscriptionIdentifier ?? 0;
        var requests = new List<SubscriptionRequest>(packet.Subscriptions.Count);
        foreach (var s in packet.Subscriptions)
            requests.Add(new SubscriptionRequest(s.TopicFilter, new SubscriptionOptions(s.Qos, s.NoLocal, s.RetainAsPublished, s.RetainHandling, subscriptionId)));

        if (!_engine.Hooks.ClientSubscribe.IsEmpty)
            await _engine.Hooks.ClientSubscribe.RunAsync(new ClientSubscribeContext { Client = _client, Subscriptions = requests, UserProperties = packet.Properties?.UserProperties }).ConfigureAwait(false);

        var codes = new List<MqttReasonCode>(packet.Subscriptions.Count);
        List<SessionSubscribedContext>? subscribed = null;
        foreach (var request in requests)
        {
            var filter = request.TopicFilter;
            var shared = MqttTopic.TryParseShared(filter, out var group, out var realFilter);
            MqttReasonCode code;
            if (!MqttTopic.IsValidTopicFilter(realFilter) || (shared && group is null))
                code = MqttReasonCode.TopicFilterInvalid;
            else if (shared && !mqtt.SharedSubscription)
                code = MqttReasonCode.SharedSubscriptionsNotSupported;
            else if (!mqtt.WildcardSubscription && MqttTopic.HasWildcard(realFilter))
                code = MqttReasonCode.WildcardSubscriptionsNotSupported;
            else if (mqtt.MaxTopicLevels > 0 && realFilter.AsSpan().Count('/') >= mqtt.MaxTopicLevels)
                code = MqttReasonCode.TopicFilterInvalid;
            else if (!await _engine.AuthorizeAsync(_client!, _superuser, AuthorizationAction.Subscribe, realFilter).ConfigureAwait(false))
                code = MqttReasonCode.NotAuthorized;
            else
            {
                var granted = (MqttQos)Math.Min((byte)request.Options.Qos, (byte)mqtt.MaxQosAllowed);
                var options = request.Options with { Qos = granted };
                var isNew = _engine.Router.Subscribe(session, filter, options);
                session.Subscriptions[filter] = options;
                code = (MqttReasonCode)granted;
                if (!_engine.Hooks.SessionSubscribed.IsEmpty)
                {
                    (subscribed ??= []).Add(new SessionSubscribedContext(m => DeliverRetained(m, options))
                    {
                        Client = _client,
                        TopicFilter = realFilter,
                        ShareGroup = group,
                        Options = options,
                        IsNew = isNew,
                    });
                }
            }
            if (code >= MqttReasonCode.UnspecifiedError)
                LogSubscribeRefused(_logger, _client!.ClientId, filter, code);
            codes.Add(code);
        }
        // A hook that removed requests leaves those filters unanswered: refuse them so the SUBACK has one code
        // per filter of the SUBSCRIBE [MQTT-3.9.3-1].
        while (codes.Count < packet.Subscriptions.Count)
            codes.Add(MqttReasonCode.UnspecifiedError);

        Send(new MqttSubAckPacket { PacketId = packet.PacketId, ReasonCodes = codes });

        // After the SUBACK, so retained messages follow it on the wire.
        if (subscribed is not null)
        {
            foreach (var context in subscribed)
                await _engine.Hooks.SessionSubscribed.RunAsync(context).ConfigureAwait(false);
        }
    }

    /// <summary>A retained message for a new subscription: sent with RETAIN set [MQTT-3.3.1-8] (3.1.1), [MQTT-3.3.1-9] (5.0).</summary>
    private void DeliverRetained(BrokerMessage message, SubscriptionOptions options)
    {
        var qos = (MqttQos)Math.Min((byte)message.Qos, (byte)options.Qos);
        _session?.Deliver(message, qos, retain: true, options.SubscriptionIdentifier == 0 ? null : [options.SubscriptionIdentifier]);
    }

    private async ValueTask HandleUnsubscribeAsync(MqttUnsubscribePacket packet)
    {
        var session = _session!;
        IList<string> filters = packet.TopicFilters;
        if (!_engine.Hooks.ClientUnsubscribe.IsEmpty)
        {
            var context = new ClientUnsubscribeContext { Client = _client, TopicFilters = new List<string>(filters) };
            await _engine.Hooks.ClientUnsubscribe.RunAsync(context).ConfigureAwait(false);
            filters = context.TopicFilters;
        }
        var codes = new List<MqttReasonCode>(packet.TopicFilters.Count);
        foreach (var filter in filters)
        {
            var removed = session.Subscriptions.Remove(filter);
            if (removed)
                _engine.Router.Unsubscribe(session, filter);
            codes.Add(removed ? MqttReasonCode.Success : MqttReasonCode.NoSubscriptionExisted);
            if (removed && !_engine.Hooks.SessionUnsubscribed.IsEmpty)
            {
                MqttTopic.TryParseShared(filter, out var group, out var realFilter);
                await _engine.Hooks.SessionUnsubscribed.RunAsync(new SessionUnsubscribedContext { Client = _client, TopicFilter = realFilter, ShareGroup = group }).ConfigureAwait(false);
            }
        }
        while (codes.Count < packet.TopicFilters.Count)
            codes.Add(MqttReasonCode.NoSubscriptionExisted);
        Send(new MqttUnsubAckPacket { PacketId = packet.PacketId, ReasonCodes = codes });
    }
}
