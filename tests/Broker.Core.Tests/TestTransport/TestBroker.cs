using Broker.Core.Connections;
using System.Collections.Concurrent;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.Configuration;
using Broker.Core.Sessions;
using Broker.Protocol;
using Microsoft.Extensions.Logging.Abstractions;

namespace Broker.Core.Tests.TestTransport;

/// <summary>
/// A <see cref="BrokerEngine"/> on a <see cref="FakeTimeProvider"/> with in-memory clients. Anonymous clients are
/// admitted unless the test says otherwise. Disposing closes every client it made.
/// </summary>
internal sealed class TestBroker : IAsyncDisposable
{
    private readonly ConcurrentBag<PipeMqttClient> _clients = [];
    private int _port = 40000;

    public TestBroker(Action<MqttOptions, SessionOptions, AccessControlOptions, BrokerOptions>? configure = null)
    {
        Mqtt = new MqttOptions();
        Session = new SessionOptions();
        Access = new AccessControlOptions { AllowAnonymous = true };
        Options = new BrokerOptions();
        configure?.Invoke(Mqtt, Session, Access, Options);
        Engine = new BrokerEngine(Mqtt, Session, Access, Options, Time, NullLoggerFactory.Instance);
    }

    public FakeTimeProvider Time { get; } = new();
    public MqttOptions Mqtt { get; }
    public SessionOptions Session { get; }
    public AccessControlOptions Access { get; }
    public BrokerOptions Options { get; }
    public BrokerEngine Engine { get; }

    /// <summary>A new connection that has not sent anything yet.</summary>
    public PipeMqttClient NewClient(MqttProtocolVersion version = MqttProtocolVersion.V500, InboundRateLimiter? limiter = null)
    {
        var client = new PipeMqttClient(Engine, version, Interlocked.Increment(ref _port), limiter);
        _clients.Add(client);
        return client;
    }

    /// <summary>Connects and, unless <paramref name="expect"/> says otherwise, asserts the CONNACK is a success.</summary>
    public async Task<PipeMqttClient> ConnectAsync(string clientId, MqttProtocolVersion version = MqttProtocolVersion.V500,
        bool cleanStart = true, uint? sessionExpiry = null, Action<MqttConnectPacket>? configure = null,
        MqttReasonCode expect = MqttReasonCode.Success)
    {
        var client = NewClient(version);
        var connect = new MqttConnectPacket { ClientId = clientId, CleanSession = cleanStart };
        if (sessionExpiry is { } expiry)
            connect.Properties = new MqttProperties { SessionExpiryInterval = expiry };
        configure?.Invoke(connect);
        var connack = await client.ConnectAsync(connect);
        Xunit.Assert.Equal(expect, connack.ReasonCode);
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
            await client.DisposeAsync();
    }
}

/// <summary>
/// Records hook invocations as short strings (<c>point:detail</c>) and lets a test wait for one, so a test can
/// synchronise on an event the broker fires on another thread.
/// </summary>
internal sealed class HookLog
{
    private readonly Lock _lock = new();
    private readonly List<string> _events = [];
    private readonly List<(Func<string, bool> Match, TaskCompletionSource Signal)> _waiters = [];

    public IReadOnlyList<string> Events
    {
        get
        {
            lock (_lock)
                return _events.ToArray();
        }
    }

    public void Add(string entry)
    {
        lock (_lock)
        {
            _events.Add(entry);
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Match(entry))
                {
                    _waiters[i].Signal.TrySetResult();
                    _waiters.RemoveAt(i);
                }
            }
        }
    }

    public void Clear()
    {
        lock (_lock)
            _events.Clear();
    }

    /// <summary>Completes when an event equal to <paramref name="entry"/> has been recorded (now or later).</summary>
    public Task WaitForAsync(string entry) => WaitForAsync(e => e == entry, entry);

    public async Task WaitForAsync(Func<string, bool> match, string what)
    {
        Task task;
        lock (_lock)
        {
            foreach (var e in _events)
            {
                if (match(e))
                    return;
            }
            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((match, signal));
            task = signal.Task;
        }
        try
        {
            await task.WaitAsync(PipeMqttClient.DefaultTimeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"hook event '{what}' not seen; events: {string.Join(", ", Events)}");
        }
    }

    /// <summary>Registers a recording callback on every hook point of <paramref name="engine"/>.</summary>
    public static HookLog Attach(BrokerEngine engine, int priority = HookPriorities.Observer)
    {
        var log = new HookLog();
        var hooks = engine.Hooks;
        ValueTask<HookResult> Record(string entry)
        {
            log.Add(entry);
            return ValueTask.FromResult(HookResult.Continue);
        }
        hooks.Register(HookPoints.ClientConnect, c => Record($"client.connect:{c.Client!.ClientId}"), priority);
        hooks.Register(HookPoints.ClientConnack, c => Record($"client.connack:{c.Client?.ClientId}:{(byte)c.ReasonCode:X2}"), priority);
        hooks.Register(HookPoints.ClientAuthenticate, c => Record($"client.authenticate:{c.Client!.ClientId}"), priority);
        hooks.Register(HookPoints.ClientAuthorize, c => Record($"client.authorize:{c.Client!.ClientId}:{c.Action}:{c.Topic}"), priority);
        hooks.Register(HookPoints.ClientConnected, c => Record($"client.connected:{c.Client!.ClientId}:{c.SessionPresent}"), priority);
        hooks.Register(HookPoints.ClientDisconnected, c => Record($"client.disconnected:{c.Client!.ClientId}:{c.Reason}:{(byte)c.ReasonCode:X2}"), priority);
        hooks.Register(HookPoints.ClientSubscribe, c => Record($"client.subscribe:{c.Client!.ClientId}:{string.Join(",", c.Subscriptions.Select(s => s.TopicFilter))}"), priority);
        hooks.Register(HookPoints.ClientUnsubscribe, c => Record($"client.unsubscribe:{c.Client!.ClientId}:{string.Join(",", c.TopicFilters)}"), priority);
        hooks.Register(HookPoints.SessionCreated, c => Record($"session.created:{c.Client!.ClientId}"), priority);
        hooks.Register(HookPoints.SessionSubscribed, c => Record($"session.subscribed:{c.Client!.ClientId}:{c.ShareGroup}:{c.TopicFilter}:{(byte)c.Options.Qos}:{c.IsNew}"), priority);
        hooks.Register(HookPoints.SessionUnsubscribed, c => Record($"session.unsubscribed:{c.Client!.ClientId}:{c.ShareGroup}:{c.TopicFilter}"), priority);
        hooks.Register(HookPoints.SessionResumed, c => Record($"session.resumed:{c.Client!.ClientId}"), priority);
        hooks.Register(HookPoints.SessionDiscarded, c => Record($"session.discarded:{c.Client!.ClientId}"), priority);
        hooks.Register(HookPoints.SessionTakenOver, c => Record($"session.takenover:{c.Client!.ClientId}"), priority);
        hooks.Register(HookPoints.SessionTerminated, c => Record($"session.terminated:{c.Client!.ClientId}:{c.Reason}"), priority);
        hooks.Register(HookPoints.MessagePublish, c => Record($"message.publish:{c.Client?.ClientId}:{c.Message.Topic}:{(byte)c.Message.Qos}:{c.Message.Retain}"), priority);
        hooks.Register(HookPoints.MessageDelivered, c => Record($"message.delivered:{c.Client!.ClientId}:{c.Message.Topic}"), priority);
        hooks.Register(HookPoints.MessageAcked, c => Record($"message.acked:{c.Client!.ClientId}:{c.Message.Topic}"), priority);
        hooks.Register(HookPoints.MessageDropped, c => Record($"message.dropped:{c.Client?.ClientId}:{c.Message.Topic}:{c.Reason}"), priority);
        return log;
    }
}
