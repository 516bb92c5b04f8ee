using Broker.Core.Hosting;
using Broker.Core.Sessions;
using System.IO.Pipelines;
using System.Net;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Protocol;
using Microsoft.Extensions.Logging;

namespace Broker.Core.Connections;

/// <summary>
/// One client connection (EMQX's channel): reads and frames packets from the transport, runs the protocol state
/// machine, and owns the writer that encodes everything this client is sent (<see cref="DrainAsync"/>, started when
/// something is queued). Transport-agnostic: it speaks <see cref="IDuplexPipe"/>, so tests can drive it over an
/// in-memory pipe.
/// </summary>
/// <remarks>
/// Threads: the read loop handles one packet at a time; deliveries from other clients arrive on their threads
/// through <see cref="SendPublish"/>, which only enqueues; the writer then runs where the listener said
/// (<see cref="IWriterScheduler"/>: the loop that reads this connection). <see cref="CloseAsync"/> may be called from anywhere.
/// </remarks>
internal sealed partial class ClientChannel : IThreadPoolWorkItem, IDeadlineOwner, ISessionConnection, Hosting.IListenerConnection, IReadCallback
{
    private readonly BrokerEngine _engine;
    private readonly IDuplexPipe _transport;
    private readonly IWriterScheduler _writers; // where DrainAsync runs: the I/O loop that reads this connection, or the pool
    private OutboundQueue<Outbound> _outbound; // a struct, locked on this channel
    private int _cleanedUp;
    private int _registrySlot = -1; // in the engine's ChannelRegistry
    private MqttProtocolVersion _version;
    private ClientInfo? _client;
    private Session? _session;
    private bool _superuser;
    private bool _connected;
    private int _deadlineSlot = -1;
    private long _lastReceived;
    private TopicMemo _lastTopic; // the read loop's: the topic of the last PUBLISH, for the next to the same topic
    private TimeSpan _keepAliveLimit;
    private int _closeRequested;

    public ClientChannel(BrokerEngine engine, IDuplexPipe transport, IPEndPoint? remoteEndPoint, string listener, IWriterScheduler writers)
    {
        _engine = engine;
        _transport = transport;
        _writers = writers;
        RemoteEndPoint = remoteEndPoint;
        Listener = listener;
    }

    public IPEndPoint? RemoteEndPoint { get; }

    private ILogger Logger => _engine.ChannelLogger;

    /// <summary>mqtt.max_packet_size, as the reader takes it (read from the options: one field less per connection).</summary>
    private int MaxPacketSize => (int)Math.Min(_engine.MqttOptions.MaxPacketSize, int.MaxValue);

    public string Listener { get; }

    /// <summary>The client, once its CONNECT has been accepted.</summary>
    public ClientInfo? Client => _client;

    public Session? Session => _session;

    public MqttProtocolVersion ProtocolVersion => _version;

    /// <summary>Completes when the connection has been cleaned up (session detached, hooks run).</summary>
    public Task Closed
    {
        get
        {
            var rare = Rare; // created when first asked for: most connections are never awaited
            var closed = Volatile.Read(ref rare.Closed);
            if (closed is null)
            {
                var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                closed = Interlocked.CompareExchange(ref rare.Closed, created, null) ?? created;
                // Cleaned up before the source was published: CleanupAsync did not see it.
                if (Volatile.Read(ref _cleanedUp) != 0)
                    closed.TrySetResult();
            }
            return closed.Task;
        }
    }

    /// <summary>Runs the connection until either side closes it. Never faults: what goes wrong is logged.</summary>
    /// <remarks>The read loop of a transport that cannot call back (<see cref="Start"/>): TLS and WebSocket, tests.</remarks>
    public async Task RunAsync()
    {
        Begin();
        // The read loop, here rather than in a method of its own: an idle connection holds one state machine less.
        // What it received is parsed and handled synchronously in Parse, so the state machine that waits while the
        // connection is idle (every idle connection holds one) keeps no buffer, result or limiter of its own.
        try
        {
            while (Volatile.Read(ref _closeRequested) == 0)
            {
                ValueTask pending;
                bool ended;
                {
                    var result = await _transport.Input.ReadAsync().ConfigureAwait(false);
                    pending = Parse(result, out ended);
                }
                if (!pending.IsCompletedSuccessfully)
                    await pending.ConfigureAwait(false); // then the rest of what was received, read again
                else if (ended)
                    break;
            }
        }
        catch (Exception ex)
        {
            OnReadFailed(ex);
        }
        finally
        {
            await EndAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Starts the connection without a task that waits for it. Over a transport that calls back
    /// (<see cref="IReadCallbackSource"/>: plain TCP), nothing waits while the connection is idle: the transport calls
    /// <see cref="OnRead"/> when data arrives, the packets are handled there (<see cref="Drive"/>), and only one whose
    /// handling goes asynchronous keeps an async method until it is done. Any other transport gets <see cref="RunAsync"/>.
    /// </summary>
    public void Start()
    {
        if (_transport.Input is not IReadCallbackSource)
        {
            _ = RunAsync(); // registers it with the engine before its first wait
            return;
        }
        Begin();
        Drive(default, haveResult: false);
    }

    /// <summary>Registers the connection and starts its CONNECT deadline.</summary>
    private void Begin()
    {
        _registrySlot = _engine.Register(this);
        _lastReceived = _engine.TimeProvider.GetTimestamp();
        _engine.Deadlines.Schedule(this, _engine.MqttOptions.IdleTimeout);
        if (InboundLimiter is not null)
            Volatile.Write(ref _rare!.CloseSignal, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
    }

    void IReadCallback.OnRead(in ReadResult result) => Drive(result, haveResult: true);

    /// <summary>
    /// <see cref="RunAsync"/>'s loop without the awaits: reads and handles until the transport has nothing (it calls
    /// <see cref="OnRead"/> when it has), a packet's handling goes asynchronous (<see cref="DriveAfterAsync"/> goes on
    /// when it is done) or the connection ends (cleaned up here). Runs on the thread that delivered the data.
    /// </summary>
    private void Drive(ReadResult result, bool haveResult)
    {
        var source = (IReadCallbackSource)_transport.Input;
        try
        {
            while (true)
            {
                if (!haveResult)
                {
                    if (Volatile.Read(ref _closeRequested) != 0)
                        break;
                    if (!source.TryReadOrCallBack(this, out result))
                        return; // the next OnRead goes on; it may already run on another thread
                }
                haveResult = false;
                var pending = Parse(result, out var ended);
                if (!pending.IsCompletedSuccessfully)
                {
                    _ = DriveAfterAsync(pending);
                    return;
                }
                if (ended)
                    break;
            }
        }
        catch (Exception ex)
        {
            try
            {
                OnReadFailed(ex);
            }
            finally
            {
                _ = EndAsync(); // cleaned up whatever happens, as RunAsync's finally does
            }
            return;
        }
        _ = EndAsync();
    }

    /// <summary>Waits for the packet whose handling went asynchronous, then reads the rest of what was received again.</summary>
    private async Task DriveAfterAsync(ValueTask pending)
    {
        try
        {
            await pending.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            try
            {
                OnReadFailed(ex);
            }
            finally
            {
                await EndAsync().ConfigureAwait(false);
            }
            return;
        }
        Drive(default, haveResult: false);
    }

    /// <summary>What ended the read loop with an exception: a protocol error is answered, a lost socket is not news.</summary>
    private void OnReadFailed(Exception ex)
    {
        switch (ex)
        {
            case MqttProtocolException protocolError:
                OnProtocolError(protocolError);
                break;
            case IOException or OperationCanceledException or ObjectDisposedException
                or Microsoft.AspNetCore.Connections.ConnectionResetException or Microsoft.AspNetCore.Connections.ConnectionAbortedException:
                break; // the socket went away
            default:
                if (ShouldLog(UnexpectedEvent, nameof(LogUnexpected), _client?.ClientId))
                    LogUnexpected(Logger, ex, _client?.ClientId);
                RequestClose(MqttReasonCode.UnspecifiedError, "error", sendDisconnect: true);
                break;
        }
    }

    /// <summary>The clean-up once reading has ended; never faults.</summary>
    private async Task EndAsync()
    {
        try
        {
            await CleanupAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            if (ShouldLog(UnexpectedEvent, nameof(LogUnexpected), _client?.ClientId))
                LogUnexpected(Logger, ex, _client?.ClientId);
        }
    }

    /// <summary>
    /// Handles the packets in <paramref name="result"/> until one goes asynchronous (a hook, back-pressure, the
    /// inbound limiter's pause): then what it consumed is given back to the reader and the rest is read again once
    /// that one is done (packets copy what they keep, so nothing refers to the reader's buffer). Returns that wait,
    /// or a completed task when everything complete has been handled; <paramref name="ended"/>: nothing more will come.
    /// </summary>
    private ValueTask Parse(in ReadResult result, out bool ended)
    {
        var input = _transport.Input;
        var buffer = result.Buffer;
        var start = buffer.Length;
        var remaining = start;
        var pending = ValueTask.CompletedTask;
        try
        {
            while (Volatile.Read(ref _closeRequested) == 0
                && MqttPacketReader.TryRead(ref buffer, _version, MaxPacketSize, ref _lastTopic, out var packet))
            {
                if (InboundLimiter is { } limiter)
                {
                    // Stop reading (TCP pushes back on the client) until the bucket has the tokens again.
                    var wait = limiter.Charge(packet is MqttPublishPacket, remaining - buffer.Length);
                    remaining = buffer.Length;
                    if (wait > TimeSpan.Zero)
                    {
                        pending = PauseThenHandleAsync(wait, packet);
                        break;
                    }
                }
                Volatile.Write(ref _lastReceived, _engine.TimeProvider.GetTimestamp());
                _engine.Metrics.PacketIn();
                pending = HandleAsync(packet);
                if (!pending.IsCompletedSuccessfully)
                    break;
            }
        }
        finally
        {
            _engine.Metrics.BytesIn(start - buffer.Length);
            if (pending.IsCompletedSuccessfully)
                input.AdvanceTo(buffer.Start, buffer.End);
            else
                input.AdvanceTo(buffer.Start); // not examined: the next read returns the rest at once
        }
        ended = result.IsCompleted || result.IsCanceled;
        return pending;
    }

    /// <summary>The inbound limiter's pause, then the packet; a close (kick, takeover, listener stop) ends the pause at once.</summary>
    private async ValueTask PauseThenHandleAsync(TimeSpan wait, MqttPacket packet)
    {
        await Task.WhenAny(Task.Delay(wait, _engine.TimeProvider), _rare!.CloseSignal!.Task).ConfigureAwait(false);
        if (Volatile.Read(ref _closeRequested) != 0)
            return;
        Volatile.Write(ref _lastReceived, _engine.TimeProvider.GetTimestamp());
        _engine.Metrics.PacketIn();
        await HandleAsync(packet).ConfigureAwait(false);
    }

    private ValueTask HandleAsync(MqttPacket packet)
    {
        switch (packet)
        {
            case MqttConnectPacket connect:
                return HandleConnectAsync(connect);
            case MqttPublishPacket publish when _connected:
                return HandlePublishAsync(publish);
            case MqttAckPacket ack when _connected:
                HandleAck(ack);
                return ValueTask.CompletedTask;
            case MqttSubscribePacket subscribe when _connected:
                return HandleSubscribeAsync(subscribe);
            case MqttUnsubscribePacket unsubscribe when _connected:
                return HandleUnsubscribeAsync(unsubscribe);
            case MqttPingReqPacket when _connected:
                Send(MqttPingRespPacket.Instance);
                return ValueTask.CompletedTask;
            case MqttDisconnectPacket disconnect when _connected:
                HandleDisconnect(disconnect);
                return ValueTask.CompletedTask;
            default:
                // AUTH (no enhanced authentication method is supported), server-to-client packets, and anything
                // before the CONNACK has been sent.
                throw new MqttProtocolException(MqttReasonCode.ProtocolError, $"unexpected {packet.Type} packet");
        }
    }

    private void HandleDisconnect(MqttDisconnectPacket packet)
    {
        if (packet.Properties?.SessionExpiryInterval is { } expiry && _session is { } session)
        {
            // A session that was to end with its connection cannot be given a lifetime now [MQTT-3.14.2-2].
            if (session.ExpiryInterval == 0 && expiry != 0)
                throw new MqttProtocolException(MqttReasonCode.ProtocolError, "session expiry set on DISCONNECT after 0 at CONNECT");
            // session.max_expiry_interval bounds it here as at CONNECT.
            var max = _engine.SessionOptions.MaxExpiryInterval;
            if (max > TimeSpan.Zero && expiry > max.TotalSeconds)
                expiry = (uint)max.TotalSeconds;
            session.ExpiryInterval = expiry;
        }
        // The will is discarded on a normal DISCONNECT and kept for 0x04 [MQTT-3.14.4-3].
        if (packet.ReasonCode != MqttReasonCode.DisconnectWithWillMessage && _rare is { } rare)
            rare.WillDiscarded = true;
        RequestClose(packet.ReasonCode, "normal", sendDisconnect: false);
    }

    private void OnProtocolError(MqttProtocolException ex)
    {
        if (ShouldLog(ProtocolErrorEvent, nameof(LogProtocolError), _client?.ClientId))
            LogProtocolError(Logger, _client?.ClientId ?? RemoteEndPoint?.ToString(), ex.ReasonCode, ex.Message);
        if (!_connected)
        {
            // A CONNECT we cannot accept: answer in a version the client reads, where the spec gives a code.
            var version = ex.ResponseVersion;
            if (version == MqttProtocolVersion.V500
                || (version != MqttProtocolVersion.Unknown && ex.ReasonCode == MqttReasonCode.UnsupportedProtocolVersion))
            {
                _version = version;
                Send(new MqttConnAckPacket { ReasonCode = ex.ReasonCode });
            }
            RequestClose(ex.ReasonCode, "protocol_error", sendDisconnect: false);
            return;
        }
        RequestClose(ex.ReasonCode, "protocol_error", sendDisconnect: true);
    }

    /// <summary>
    /// Closes the connection from the server side: MQTT 5 clients are sent DISCONNECT with
    /// <paramref name="reason"/> first. Completes when the connection has been cleaned up.
    /// </summary>
    public Task CloseAsync(MqttReasonCode reason, string why)
    {
        RequestClose(reason, why, sendDisconnect: true);
        return Closed;
    }

    Task Hosting.IListenerConnection.CloseAsync() => CloseAsync(MqttReasonCode.ServerShuttingDown, "listener_stopped");

    /// <summary>Closed because another connection took the session [MQTT-3.1.4-3]; DISCONNECT 0x8E for MQTT 5.</summary>
    public Task TakeOverAsync()
    {
        Volatile.Write(ref Rare.TakenOver, 1);
        return CloseAsync(MqttReasonCode.SessionTakenOver, "takenover");
    }

    private void RequestClose(MqttReasonCode reason, string why, bool sendDisconnect)
    {
        if (Interlocked.Exchange(ref _closeRequested, 1) != 0)
            return;
        var rare = Rare;
        rare.CloseReason = reason;
        rare.CloseWhy = why;
        if (sendDisconnect && _connected && _version == MqttProtocolVersion.V500)
            Send(new MqttDisconnectPacket { ReasonCode = reason });
        _outbound.Complete(this);
        Volatile.Read(ref rare.CloseSignal)?.TrySetResult();
        _transport.Input.CancelPendingRead();
    }

    int IDeadlineOwner.DeadlineSlot
    {
        get => _deadlineSlot;
        set => _deadlineSlot = value;
    }

    /// <summary>The CONNECT or keep-alive deadline (<see cref="DeadlineHeap"/>).</summary>
    void IDeadlineOwner.OnDeadline()
    {
        if (Volatile.Read(ref _closeRequested) != 0)
            return;
        if (!_connected)
        {
            // No CONNECT within mqtt.idle_timeout.
            RequestClose(MqttReasonCode.MaximumConnectTime, "idle_timeout", sendDisconnect: false);
            return;
        }
        var elapsed = _engine.TimeProvider.GetElapsedTime(Volatile.Read(ref _lastReceived));
        if (elapsed >= _keepAliveLimit)
        {
            // Nothing from the client for 1.5 times its keep-alive [MQTT-3.1.2-24] (3.1.1), [MQTT-3.1.2-22] (5.0).
            RequestClose(MqttReasonCode.KeepAliveTimeout, "keepalive_timeout", sendDisconnect: true);
            return;
        }
        _engine.Deadlines.Schedule(this, _keepAliveLimit - elapsed);
        // Closed meanwhile, after CleanupAsync cancelled the deadline: take it out again.
        if (Volatile.Read(ref _closeRequested) != 0)
            _engine.Deadlines.Cancel(this);
    }

    private async Task CleanupAsync()
    {
        RequestClose(CloseReason, CloseWhy, sendDisconnect: false);
        _engine.Deadlines.Cancel(this);
        try
        {
            if (_connected && _session is { } session)
            {
                _engine.Metrics.Disconnected();
                var rare = Rare; // RequestClose made it
                var takenOver = Volatile.Read(ref rare.TakenOver) != 0;
                // No will when another connection took the session: a new Network Connection for the client id
                // was opened before any will delay could elapse [MQTT-3.1.2-8].
                var will = !rare.WillDiscarded && !takenOver ? rare.Will : null;
                await _engine.Sessions.DisconnectedAsync(this, session, will, rare.WillDelay, takenOver).ConfigureAwait(false);
                if (!_engine.Hooks.ClientDisconnected.IsEmpty)
                {
                    await _engine.Hooks.ClientDisconnected.RunAsync(new ClientDisconnectedContext
                    {
                        Client = _client,
                        ReasonCode = rare.CloseReason,
                        Reason = rare.CloseWhy,
                    }).ConfigureAwait(false);
                }
                if (ShouldLog(DisconnectedEvent, nameof(LogDisconnected), _client!.ClientId))
                    LogDisconnected(Logger, _client.ClientId, rare.CloseWhy);
            }
        }
        catch (Exception ex)
        {
            if (ShouldLog(UnexpectedEvent, nameof(LogUnexpected), _client?.ClientId))
                LogUnexpected(Logger, ex, _client?.ClientId);
        }
        finally
        {
            if (_client is { } client)
                _engine.ClientStates.Drop(client);
            _engine.Unregister(this, _registrySlot);
            // A full fence, against Closed's publish-then-check.
            Interlocked.Exchange(ref _cleanedUp, 1);
            if (Volatile.Read(ref _rare) is { } rare)
                Volatile.Read(ref rare.Closed)?.TrySetResult();
        }

        try
        {
            // Give the writer a moment to flush a final DISCONNECT/CONNACK, then stop it whatever the peer does.
            var drained = _outbound.WhenDrainedAsync(this);
            try
            {
                await drained.WaitAsync(TimeSpan.FromSeconds(2), _engine.TimeProvider).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                _transport.Output.CancelPendingFlush();
                await drained.ConfigureAwait(false);
            }
            SignalQos0Drained(force: true);
        }
        finally
        {
            await _transport.Input.CompleteAsync().ConfigureAwait(false);
            await _transport.Output.CompleteAsync().ConfigureAwait(false);
        }
    }
}
