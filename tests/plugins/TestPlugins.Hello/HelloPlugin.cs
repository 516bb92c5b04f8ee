using System.Text;
using Broker.Abstractions;
using Broker.Abstractions.Configuration;
using Broker.Abstractions.Hooks;
using Broker.Abstractions.Plugins;

namespace TestPlugins.Hello;

/// <summary>
/// Rewrites the payload of messages published to <c>hello/#</c> to <c>greeting</c> (from hello.conf), denies the
/// user named by <c>deny_user</c> (default intruder), and ticks a timer made through the context's TimeProvider
/// (left for the host to dispose, to prove it does). SDK 1.4: denies the TLS client certificate CN <c>deny_cert_cn</c>,
/// and fails (throws) for the user <c>failing_user</c> with the failure action <c>on_failure</c>; a user named
/// <c>scoped-*</c> may publish only under <c>scoped/&lt;user&gt;/</c>, a rule its authenticate callback attaches to the
/// connection (<see cref="IPluginContext.ClientState"/>) and its authorize callback reads. SDK 1.5: counts the messages
/// it greets (counter <c>greeted</c>, tagged by topic) and their payload sizes (histogram <c>payload_bytes</c>) on its
/// <see cref="IPluginContext.Meter"/>, with <c>mirror_from</c> republishes what its internal subscription receives, and
/// answers GET <c>greeting</c>, POST <c>echo/{word}</c> and GET <c>boom</c> (which throws) on <see cref="IPluginContext.Http"/>.
/// </summary>
public sealed class HelloPlugin : IBrokerPlugin
{
    private ITimer? _timer;
    private long _ticks;

    public ValueTask StartAsync(IPluginContext context, CancellationToken cancellationToken)
    {
        var options = context.BindOptions<HelloOptions>();
        var greeting = Encoding.UTF8.GetBytes(options.Greeting);
        var denyUser = options.DenyUser;
        var greeted = context.Meter.CreateCounter<long>("greeted", "{message}", "Messages to hello/# whose payload was replaced.");
        var payloadBytes = context.Meter.CreateHistogram<int>("payload_bytes", "By", "Payload sizes of the messages greeted.");
        // An observable instrument holds the plugin's own code (this callback): the host must let go of it at unload.
        context.Meter.CreateObservableGauge("ticks", () => Interlocked.Read(ref _ticks), "{tick}", "Timer ticks so far.");
        context.Hooks.Register(HookPoints.MessagePublish, c =>
        {
            if (c.Message.Topic.StartsWith("hello/", StringComparison.Ordinal))
            {
                payloadBytes.Record(c.Message.Payload.Length);
                greeted.Add(1, new KeyValuePair<string, object?>("topic", c.Message.Topic));
                c.Message = c.Message with { Payload = greeting };
            }
            return ValueTask.FromResult(HookResult.Continue);
        });
        context.Hooks.Register(HookPoints.ClientAuthenticate, c =>
        {
            if (c.Client?.Username != denyUser)
                return ValueTask.FromResult(HookResult.Continue);
            c.Result = AuthenticationResult.Deny;
            return ValueTask.FromResult(HookResult.Stop);
        }, HookPriorities.Default);
        context.Hooks.Register(HookPoints.ClientAuthenticate, c =>
        {
            if (options.DenyCertCn.Length > 0 && c.Client?.CertificateCommonName == options.DenyCertCn)
            {
                c.Result = AuthenticationResult.Deny;
                return ValueTask.FromResult(HookResult.Stop);
            }
            if (c.Client?.Username == options.FailingUser)
                throw new InvalidOperationException("backend unreachable");
            if (c.Client?.Username is { } user && user.StartsWith("scoped-", StringComparison.Ordinal))
                context.ClientState.Set(c.Client, new Scope($"scoped/{user}/"));
            return ValueTask.FromResult(HookResult.Continue);
        }, new HookOptions { Priority = HookPriorities.ExternalAuth, Timeout = TimeSpan.FromSeconds(1), OnFailure = options.OnFailure });
        // A synchronous backend (SDK 2.0's HookOptions.Blocking): holds its thread for blocking_hold, then allows.
        context.Hooks.Register(HookPoints.ClientAuthenticate, c =>
        {
            if (options.BlockingUser.Length == 0 || c.Client?.Username != options.BlockingUser)
                return ValueTask.FromResult(HookResult.Continue);
            Thread.Sleep(options.BlockingHold);
            c.Result = AuthenticationResult.Allow;
            return ValueTask.FromResult(HookResult.Stop);
        }, new HookOptions { Priority = HookPriorities.ExternalAuth, Timeout = options.BlockingHold + TimeSpan.FromSeconds(10), Blocking = true });
        context.Hooks.Register(HookPoints.ClientAuthorize, c =>
        {
            if (c.Action != AuthorizationAction.Publish || context.ClientState.Get<Scope>(c.Client!) is not { } scope)
                return ValueTask.FromResult(HookResult.Continue);
            c.Result = c.Topic.StartsWith(scope.Prefix, StringComparison.Ordinal) ? AuthorizationResult.Allow : AuthorizationResult.Deny;
            return ValueTask.FromResult(HookResult.Stop);
        }, HookPriorities.ExternalAuth);
        if (options.MirrorFrom.Length > 0)
        {
            // Left for the host to dispose, as the hooks: republishes each match to mirror/<topic> with the metadata.
            context.SubscribeInternal(options.MirrorFrom, async (m, ct) => await context.Broker.PublishAsync(new BrokerMessage
            {
                Topic = "mirror/" + m.Topic,
                Payload = Encoding.UTF8.GetBytes($"{m.PublisherId}|{m.PublisherUsername}|{m.PublisherAddress}|{m.OriginNode}|{m.Id.Length}"),
                Qos = MqttQos.AtLeastOnce,
            }, ct));
        }
        // Endpoints under /api/v4/plugins/<name>/api/ (left for the host to remove, as the hooks).
        // The greeting with what the read model (SDK 1.5) says of the node.
        context.Http.Map("GET", "greeting", (_, _) =>
        {
            var model = context.ReadModel;
            return ValueTask.FromResult(PluginHttpResponse.Json(
                $"{{\"greeting\":\"{options.Greeting}\",\"connections\":{model.Stats()["connections.count"]}," +
                $"\"received\":{model.Metrics()["messages.received"]},\"listeners\":\"{string.Join(' ', model.Listeners().Select(l => l.Identifier))}\"," +
                $"\"routes\":\"{string.Join(' ', model.Routes())}\",\"plugins\":\"{string.Join(' ', model.Plugins().Select(p => p.Name + ":" + p.State))}\"}}"));
        });
        context.Http.Map("POST", "echo/{word}", (request, _) => ValueTask.FromResult(PluginHttpResponse.Text(
            $"{request.RouteValues["word"]} {request.Query.GetValueOrDefault("n", "-")} {request.BodyText}", 201)));
        context.Http.Map("GET", "boom", (_, _) => throw new InvalidOperationException("the endpoint's backend is down"));
        _timer = context.TimeProvider.CreateTimer(_ => context.Broker.SetGauge("hello.ticks", Interlocked.Increment(ref _ticks)),
            null, options.TickInterval, options.TickInterval);
        File.WriteAllText(Path.Combine(context.DataDirectory, "started"), "yes");
        return ValueTask.CompletedTask;
    }

    // Deliberately leaves the timer, the hooks and the per-connection state to the host.
    public ValueTask StopAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    private sealed record Scope(string Prefix);
}

/// <summary>hello.conf, bound with <see cref="IPluginContext.BindOptions{T}"/>.</summary>
public sealed class HelloOptions
{
    [ConfKey("greeting", "Payload written over every message published to hello/#.")]
    public string Greeting { get; set; } = "hello";

    [ConfKey("deny_user", "A user name this plugin refuses at CONNECT.")]
    public string DenyUser { get; set; } = "intruder";

    [ConfKey("tick_interval", "How often the plugin's timer ticks.", Unit = ConfUnit.Duration, Min = "1ms")]
    public TimeSpan TickInterval { get; set; } = TimeSpan.FromMilliseconds(10);

    [ConfKey("deny_cert_cn", "A TLS client certificate Common Name this plugin refuses at CONNECT; empty = none.")]
    public string DenyCertCn { get; set; } = "";

    [ConfKey("failing_user", "A user name for which the authenticate callback throws (a backend that is down).")]
    public string FailingUser { get; set; } = "unlucky";

    [ConfKey("on_failure", "The failure action of that callback: default, deny or ignore.")]
    public HookFailureAction OnFailure { get; set; } = HookFailureAction.Default;

    [ConfKey("blocking_user", "A user name whose authentication blocks its thread for blocking_hold (a synchronous backend), registered as a blocking callback; empty = none.")]
    public string BlockingUser { get; set; } = "";

    [ConfKey("blocking_hold", "How long that authentication blocks.", Unit = ConfUnit.Duration, Min = "1ms")]
    public TimeSpan BlockingHold { get; set; } = TimeSpan.FromSeconds(3);

    [ConfKey("mirror_from", "A topic filter subscribed internally (SDK 1.5): each match is republished to mirror/<topic> with its metadata; empty = none.")]
    public string MirrorFrom { get; set; } = "";
}
