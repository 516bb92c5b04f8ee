using System.Text;
using Broker.Abstractions.Hooks;
using Broker.Abstractions.Plugins;

namespace TestPlugins.Hello;

/// <summary>
/// Rewrites the payload of messages published to <c>hello/#</c> to <c>greeting</c> (from hello.conf), denies the
/// user named by <c>deny_user</c> (default intruder), and ticks a timer made through the context's TimeProvider
/// (left for the host to dispose, to prove it does).
/// </summary>
public sealed class HelloPlugin : IBrokerPlugin
{
    private ITimer? _timer;
    private long _ticks;

    public ValueTask StartAsync(IPluginContext context, CancellationToken cancellationToken)
    {
        var greeting = Encoding.UTF8.GetBytes(context.Configuration["greeting"] ?? "hello");
        var denyUser = context.Configuration["deny_user"] ?? "intruder";
        context.Hooks.Register(HookPoints.MessagePublish, c =>
        {
            if (c.Message.Topic.StartsWith("hello/", StringComparison.Ordinal))
                c.Message = c.Message with { Payload = greeting };
            return ValueTask.FromResult(HookResult.Continue);
        });
        context.Hooks.Register(HookPoints.ClientAuthenticate, c =>
        {
            if (c.Client?.Username != denyUser)
                return ValueTask.FromResult(HookResult.Continue);
            c.Result = AuthenticationResult.Deny;
            return ValueTask.FromResult(HookResult.Stop);
        }, HookPriorities.Default);
        _timer = context.TimeProvider.CreateTimer(_ => context.Broker.SetGauge("hello.ticks", Interlocked.Increment(ref _ticks)),
            null, TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(10));
        File.WriteAllText(Path.Combine(context.DataDirectory, "started"), "yes");
        return ValueTask.CompletedTask;
    }

    // Deliberately leaves the timer and the hooks to the host.
    public ValueTask StopAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
}
