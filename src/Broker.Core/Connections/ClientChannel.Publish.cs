using Broker.Core.Sessions;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Protocol;

namespace Broker.Core.Connections;

internal sealed partial class ClientChannel
{
    // Sparse: clients use a handful of aliases, and the announced maximum may be 65535.

    private ValueTask HandlePublishAsync(MqttPublishPacket packet)
    {
        // Subscription Identifiers flow only from server to client: 3.3.4 calls one from a client a Protocol Error
        // [MQTT-3.3.4-6]. The codec reads both directions, so the check is here.
        if (packet.SubscriptionIdentifiers is not null)
            throw new MqttProtocolException(MqttReasonCode.ProtocolError, "PUBLISH from a client with a Subscription Identifier [MQTT-3.3.4-6]");
        _engine.Metrics.MessageIn();
        var mqtt = _engine.MqttOptions;
        var topic = ResolveInboundAlias(packet);
        if ((byte)packet.Qos > mqtt.MaxQosAllowed)
            throw new MqttProtocolException(MqttReasonCode.QosNotSupported, "QoS above mqtt.max_qos_allowed"); // 3.2.2.3.4: DISCONNECT 0x9B
        if (packet.Retain && !mqtt.RetainAvailable)
            throw new MqttProtocolException(MqttReasonCode.RetainNotSupported, "retain is not available"); // 3.2.2.3.5: DISCONNECT 0x9A
        if (mqtt.MaxTopicLevels > 0 && topic.AsSpan().Count('/') >= mqtt.MaxTopicLevels)
            throw new MqttProtocolException(MqttReasonCode.TopicNameInvalid, "more topic levels than mqtt.max_topic_levels");

        if (packet.Qos != MqttQos.AtMostOnce && _engine.Journal is { IsFailing: true })
        {
            RefuseNotDurable(packet); // the disk is full: take no new QoS 1/2 message until it writes again
            return ValueTask.CompletedTask;
        }
        if (packet.Qos == MqttQos.ExactlyOnce && _engine.SyncPersistence)
            return HandleDurableQos2Async(packet, topic);
        if (packet.Qos == MqttQos.ExactlyOnce)
        {
            switch (_session!.AddAwaitingRel(packet.PacketId))
            {
                case AwaitRelResult.Duplicate:
                    // Already received and routed: answer again, never route twice (exactly once, 4.3.3); behind the
                    // acknowledgements still waiting (for the disk, or another node), so never before the first PUBREC.
                    SendPublishAck(MqttPacketType.PubRec, packet.PacketId, MqttReasonCode.Success);
                    return ValueTask.CompletedTask;
                case AwaitRelResult.Full:
                    // More unreleased QoS 2 messages than the Receive Maximum we announced: DISCONNECT 0x93 (3.2.2.3.3).
                    throw new MqttProtocolException(MqttReasonCode.ReceiveMaximumExceeded, "session.max_awaiting_rel exceeded");
            }
        }

        var authorize = _engine.AuthorizeAsync(_client!, _superuser, AuthorizationAction.Publish, topic);
        if (!authorize.IsCompletedSuccessfully)
            return PublishSlowAsync(packet, topic, authorize);
        if (!authorize.Result)
        {
            Denied(packet, topic);
            return ValueTask.CompletedTask;
        }
        var message = ToMessage(packet, topic);
        var outcome = _engine.PublishAsync(message, _client);
        if (!outcome.IsCompletedSuccessfully)
            return AcknowledgeAsync(packet, outcome);
        return AcknowledgeRouted(packet, outcome.Result);
    }

    /// <summary>
    /// Acknowledges a routed PUBLISH, now or once what it waits for has happened, and returns what the connection waits
    /// for before it reads on (a subscriber, or another node, behind). A single node without <c>persistence.sync</c>
    /// acknowledges at once: the cluster's part is one null check of <see cref="PublishOutcome.RemoteAcknowledged"/>.
    /// </summary>
    private ValueTask AcknowledgeRouted(MqttPublishPacket packet, PublishOutcome outcome)
    {
        if (outcome.RemoteAcknowledged is not null || outcome.RemoteBehind is not null)
            return AcknowledgeForwarded(packet, outcome);
        if (_engine.SyncPersistence && packet.Qos != MqttQos.AtMostOnce)
            return AcknowledgeWhenDurable(packet, outcome, duplicate: false);
        Acknowledge(packet, outcome, chained: false);
        return outcome.Behind is { } behind ? WaitForSubscriberAsync(behind) : ValueTask.CompletedTask;
    }

    /// <summary>
    /// A PUBLISH forwarded to other nodes (issue 24, end-to-end QoS): a QoS 1/2 message is acknowledged only once every
    /// node it went to has it in its sessions (MQTT 5 §4.3.2/§4.3.3: the PUBACK/PUBREC transfers ownership of the
    /// message to the receiver, here the cluster), or the cluster stopped waiting for a node (found down: the message
    /// reached the others). The connection reads on meanwhile (the acknowledgements keep the PUBLISHes' order,
    /// [MQTT-4.6.0-2]); when a node has too many unacknowledged forwards, it waits for it before reading more.
    /// </summary>
    private ValueTask AcknowledgeForwarded(MqttPublishPacket packet, PublishOutcome outcome)
    {
        var wait = ValueTask.CompletedTask;
        if (packet.Qos != MqttQos.AtMostOnce)
        {
            var remote = outcome.RemoteAcknowledged ?? Task.CompletedTask;
            var ready = _engine.SyncPersistence ? Both(_engine.Journal!.CommitAsync(), remote) : remote;
            wait = AcknowledgeAfter(packet, outcome, duplicate: false, ready);
        }
        if (outcome.RemoteBehind is { } node && !node.IsCompleted)
            return WaitForNodeAsync(wait, node);
        return wait;

        static Task Both(Task commit, Task remote) => remote.IsCompleted ? commit : Task.WhenAll(commit, remote);
    }

    /// <summary>Back-pressure from another node: this connection reads nothing more until the node has caught up.</summary>
    private async ValueTask WaitForNodeAsync(ValueTask before, Task node)
    {
        await before.ConfigureAwait(false);
        if (node.IsCompleted)
            return;
        _engine.Metrics.PublisherPaused();
        await node.ConfigureAwait(false);
    }

    /// <summary>
    /// Back-pressure: the message is accepted and acknowledged, but this connection reads nothing more until the
    /// subscriber that fell behind has caught up, or session.backpressure_timeout has passed. Publishers slow to
    /// the pace subscribers drain instead of overflowing their queues. The wait ends at once when the subscriber is
    /// declared slow (session.slow_subscriber_timeout): if that moment comes first, this publisher declares it.
    /// </summary>
    private ValueTask WaitForSubscriberAsync(Session subscriber) => _engine.WaitForSubscriberAsync(subscriber);

    private async ValueTask PublishSlowAsync(MqttPublishPacket packet, string topic, ValueTask<bool> authorize)
    {
        if (!await authorize.ConfigureAwait(false))
        {
            Denied(packet, topic);
            return;
        }
        await AcknowledgeAsync(packet, _engine.PublishAsync(ToMessage(packet, topic), _client)).ConfigureAwait(false);
    }

    private async ValueTask AcknowledgeAsync(MqttPublishPacket packet, ValueTask<PublishOutcome> pending) =>
        await AcknowledgeRouted(packet, await pending.ConfigureAwait(false)).ConfigureAwait(false);

    /// <summary>
    /// A QoS 2 PUBLISH with <c>persistence.sync = sync</c>: its packet id and the copies routed to sessions go into the
    /// journal as one group (<see cref="Persistence.PersistenceJournal.HoldAsync"/>), so a crash keeps both or neither:
    /// kept, a re-sent PUBLISH is recognised and not routed again; lost, it is routed when re-sent. PUBREC follows the write.
    /// </summary>
    private async ValueTask HandleDurableQos2Async(MqttPublishPacket packet, string topic)
    {
        var journal = _engine.Journal!;
        await journal.HoldAsync().ConfigureAwait(false);
        PublishOutcome outcome = default;
        var duplicate = false;
        try
        {
            switch (_session!.AddAwaitingRel(packet.PacketId))
            {
                case AwaitRelResult.Duplicate:
                    duplicate = true;
                    break;
                case AwaitRelResult.Full:
                    throw new MqttProtocolException(MqttReasonCode.ReceiveMaximumExceeded, "session.max_awaiting_rel exceeded");
                default:
                    if (!await _engine.AuthorizeAsync(_client!, _superuser, AuthorizationAction.Publish, topic).ConfigureAwait(false))
                    {
                        Denied(packet, topic);
                        return;
                    }
                    outcome = await _engine.PublishAsync(ToMessage(packet, topic), _client).ConfigureAwait(false);
                    break;
            }
        }
        finally
        {
            journal.Unhold();
        }
        await AcknowledgeWhenDurable(packet, outcome, duplicate).ConfigureAwait(false);
    }

    // persistence.sync = sync: PUBACK/PUBREC waiting for their write are chained in the order the PUBLISHes came
    // (RareState.DurableAcks).

    /// <summary>How many acknowledgements may wait for the disk before this connection stops reading.</summary>
    private const int MaxDurableAcksPending = 1024;

    /// <summary>
    /// <c>persistence.sync = sync</c>: acknowledges <paramref name="packet"/> once what it left in persistent sessions
    /// (and its QoS 2 state) is on disk, sharing the write with every PUBLISH waiting meanwhile (group commit). The
    /// connection reads on while it waits, so one publisher's window of messages shares one fsync; the acknowledgements
    /// still go in the order the PUBLISHes came [MQTT-4.6.0-2]. When the store cannot write (disk full) the message is
    /// not acknowledged: MQTT 5 publishers get 0x97 Quota exceeded (and a QoS 2 exchange ends there); 3.1.1 has no way
    /// to refuse, so no PUBACK/PUBREC is sent and the client sends it again after reconnecting.
    /// </summary>
    private ValueTask AcknowledgeWhenDurable(MqttPublishPacket packet, PublishOutcome outcome, bool duplicate)
    {
        var commit = _engine.Journal!.CommitAsync();
        // In a cluster a routed QoS 2 message also waits for the nodes it went to (AcknowledgeForwarded).
        if (outcome.RemoteAcknowledged is { IsCompleted: false } remote)
            commit = Task.WhenAll(commit, remote);
        var wait = AcknowledgeAfter(packet, outcome, duplicate, commit);
        if (outcome.RemoteBehind is { IsCompleted: false } node)
            return WaitForNodeAsync(wait, node);
        return wait;
    }

    /// <summary>
    /// Acknowledges <paramref name="packet"/> once <paramref name="ready"/> completes, behind every acknowledgement
    /// still waiting [MQTT-4.6.0-2]; returns what the connection waits for before reading on.
    /// </summary>
    private ValueTask AcknowledgeAfter(MqttPublishPacket packet, PublishOutcome outcome, bool duplicate, Task ready)
    {
        var rare = Rare;
        Interlocked.Increment(ref rare.DurableAcksPending);
        rare.DurableAcks = AcknowledgeAfterAsync(rare.DurableAcks, ready, packet, outcome, duplicate);
        if (Volatile.Read(ref rare.DurableAcksPending) >= MaxDurableAcksPending)
            return WaitForDurableAcksAsync(outcome.Behind);
        return outcome.Behind is { } behind ? WaitForSubscriberAsync(behind) : ValueTask.CompletedTask;
    }

    private async ValueTask WaitForDurableAcksAsync(Session? behind)
    {
        await _rare!.DurableAcks.ConfigureAwait(false);
        if (behind is not null)
            await WaitForSubscriberAsync(behind).ConfigureAwait(false);
    }

    private async Task AcknowledgeAfterAsync(Task previous, Task commit, MqttPublishPacket packet, PublishOutcome outcome, bool duplicate)
    {
        await previous.ConfigureAwait(false); // never faults
        try
        {
            await commit.ConfigureAwait(false);
            if (duplicate)
                SendAck(MqttPacketType.PubRec, packet.PacketId, MqttReasonCode.Success); // already received and routed
            else
                Acknowledge(packet, outcome, chained: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            if (packet.Qos == MqttQos.ExactlyOnce && _version == MqttProtocolVersion.V500)
                _session!.Release(packet.PacketId);
            RefuseNotDurable(packet);
        }
        finally
        {
            Interlocked.Decrement(ref _rare!.DurableAcksPending);
        }
    }

    /// <summary>
    /// A QoS 1/2 PUBLISH the store could not take (disk full): MQTT 5 gets PUBACK/PUBREC 0x97 Quota exceeded; 3.1.1
    /// has no way to refuse, so nothing is sent and the client sends it again after reconnecting.
    /// </summary>
    private void RefuseNotDurable(MqttPublishPacket packet)
    {
        _engine.Metrics.PublishRefusedNotDurable();
        if (_version == MqttProtocolVersion.V500)
            SendPublishAck(packet.Qos == MqttQos.AtLeastOnce ? MqttPacketType.PubAck : MqttPacketType.PubRec, packet.PacketId, MqttReasonCode.QuotaExceeded);
    }

    /// <summary>A PUBACK/PUBREC that needs no write, behind those still waiting for one [MQTT-4.6.0-2].</summary>
    private void SendPublishAck(MqttPacketType type, ushort packetId, MqttReasonCode reasonCode)
    {
        if (_rare is not { } rare || Volatile.Read(ref rare.DurableAcksPending) == 0)
        {
            SendAck(type, packetId, reasonCode);
            return;
        }
        Interlocked.Increment(ref rare.DurableAcksPending);
        rare.DurableAcks = SendAfterAsync(rare.DurableAcks, type, packetId, reasonCode);
    }

    private async Task SendAfterAsync(Task previous, MqttPacketType type, ushort packetId, MqttReasonCode reasonCode)
    {
        await previous.ConfigureAwait(false);
        SendAck(type, packetId, reasonCode);
        Interlocked.Decrement(ref _rare!.DurableAcksPending);
    }

    private BrokerMessage ToMessage(MqttPublishPacket packet, string topic) => new()
    {
        Topic = topic,
        Payload = packet.Payload,
        Qos = packet.Qos,
        Retain = packet.Retain,
        Properties = packet.Properties,
        MessageExpiryInterval = packet.MessageExpiryInterval,
        PublisherId = _client!.ClientId,
        PublisherUsername = _client.Username,
        PublisherAddress = _peerHost,
        OriginNode = _engine.BrokerOptions.NodeName,
        Timestamp = _engine.Now,
    };

    /// <param name="packet">The PUBLISH.</param>
    /// <param name="outcome">What routing did with it.</param>
    /// <param name="chained">Sent from the chain of waiting acknowledgements (in turn); false: now, or behind that chain.</param>
    private void Acknowledge(MqttPublishPacket packet, PublishOutcome outcome, bool chained)
    {
        if (packet.Qos == MqttQos.AtMostOnce)
            return;
        var reason = outcome.Deliveries switch
        {
            < 0 => outcome.ReasonCode,
            0 => MqttReasonCode.NoMatchingSubscribers,
            _ => MqttReasonCode.Success,
        };
        // A PUBREC >= 0x80 (a message.publish callback refused the message) ends the exchange: no PUBREL follows, and
        // the next PUBLISH with this packet id is a new message (5.0 §4.3.3). 3.1.1 writes no reason code; its PUBREL releases.
        if (packet.Qos == MqttQos.ExactlyOnce && (byte)reason >= 0x80 && _version == MqttProtocolVersion.V500)
            _session!.Release(packet.PacketId);
        var type = packet.Qos == MqttQos.AtLeastOnce ? MqttPacketType.PubAck : MqttPacketType.PubRec;
        if (chained)
            SendAck(type, packet.PacketId, reason);
        else
            SendPublishAck(type, packet.PacketId, reason); // behind any still waiting for the disk or another node
    }

    /// <summary>
    /// A publish the ACL denies is dropped. MQTT 5 tells the publisher (0x87); 3.1.1 has no way to, so it is
    /// acknowledged as usual, as mosquitto and EMQX do.
    /// </summary>
    private void Denied(MqttPublishPacket packet, string topic)
    {
        _engine.Metrics.PublishDenied();
        if (ShouldLog(PublishDeniedEvent, nameof(LogPublishDenied), _client!.ClientId, topic))
            LogPublishDenied(Logger, _client.ClientId, topic);
        _engine.OnDropped(ToMessage(packet, topic), "not_authorized", false, _client);
        if (packet.Qos == MqttQos.AtMostOnce)
            return;
        var v5 = _version == MqttProtocolVersion.V500;
        if (packet.Qos == MqttQos.ExactlyOnce && v5)
            _session!.Release(packet.PacketId); // a PUBREC >= 0x80 ends the exchange: no PUBREL will come
        SendPublishAck(packet.Qos == MqttQos.AtLeastOnce ? MqttPacketType.PubAck : MqttPacketType.PubRec, packet.PacketId,
            v5 ? MqttReasonCode.NotAuthorized : MqttReasonCode.Success);
    }

    /// <summary>MQTT 5 Topic Alias on an incoming PUBLISH (3.3.2.3.4): set or use the mapping of this connection.</summary>
    private string ResolveInboundAlias(MqttPublishPacket packet)
    {
        if (packet.TopicAlias == 0)
            return packet.Topic;
        if (packet.TopicAlias > _engine.MqttOptions.MaxTopicAlias)
            throw new MqttProtocolException(MqttReasonCode.TopicAliasInvalid, "topic alias above the announced maximum"); // [MQTT-3.3.2-9]
        var aliases = Rare.InboundAliases ??= [];
        if (packet.Topic.Length > 0)
        {
            aliases[packet.TopicAlias] = packet.Topic;
            return packet.Topic;
        }
        return aliases.TryGetValue(packet.TopicAlias, out var topic)
            ? topic
            : throw new MqttProtocolException(MqttReasonCode.ProtocolError, "unknown topic alias with an empty topic");
    }

    private void HandleAck(MqttAckPacket ack)
    {
        var session = _session!;
        var v5 = _version == MqttProtocolVersion.V500;
        switch (ack.Type)
        {
            case MqttPacketType.PubAck:
            case MqttPacketType.PubComp:
                if (session.Complete(ack.PacketId, ack.Type) is { } message && !_engine.Hooks.MessageAcked.IsEmpty)
                    _ = _engine.Hooks.MessageAcked.RunAsync(new MessageDeliveryContext { Client = _client, Message = message });
                break;
            case MqttPacketType.PubRec:
                var failed = v5 && (byte)ack.ReasonCode >= 0x80;
                if (session.Received(ack.PacketId, failed, out var pubRelLater))
                {
                    if (!failed && !pubRelLater)
                        SendAck(MqttPacketType.PubRel, ack.PacketId, MqttReasonCode.Success);
                }
                else
                {
                    SendAck(MqttPacketType.PubRel, ack.PacketId, v5 ? MqttReasonCode.PacketIdentifierNotFound : MqttReasonCode.Success);
                }
                break;
            case MqttPacketType.PubRel:
                var known = session.Release(ack.PacketId);
                if (known && _engine.SyncPersistence && session.IsPersisted)
                    CompleteWhenDurable(ack.PacketId);
                else
                    SendAck(MqttPacketType.PubComp, ack.PacketId, known || !v5 ? MqttReasonCode.Success : MqttReasonCode.PacketIdentifierNotFound);
                break;
        }
    }

    /// <summary>
    /// <c>persistence.sync = sync</c>: PUBCOMP once the packet id's release is on disk. Sent before, a crash would bring
    /// the id back as awaiting PUBREL, and the client's next QoS 2 PUBLISH reusing it would be taken for the earlier one
    /// sent again: acknowledged, never routed. Chained behind the acknowledgements waiting for the disk; when the store
    /// cannot write, no PUBCOMP: the client sends its PUBREL again after reconnecting.
    /// </summary>
    private void CompleteWhenDurable(ushort packetId)
    {
        var rare = Rare;
        Interlocked.Increment(ref rare.DurableAcksPending);
        rare.DurableAcks = CompleteAfterAsync(rare.DurableAcks, _engine.Journal!.CommitAsync(), packetId);
    }

    private async Task CompleteAfterAsync(Task previous, Task commit, ushort packetId)
    {
        await previous.ConfigureAwait(false); // never faults
        try
        {
            await commit.ConfigureAwait(false);
            SendAck(MqttPacketType.PubComp, packetId, MqttReasonCode.Success);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Not on disk: no PUBCOMP (see above).
        }
        finally
        {
            Interlocked.Decrement(ref _rare!.DurableAcksPending);
        }
    }
}
