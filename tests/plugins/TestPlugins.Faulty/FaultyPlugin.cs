using Broker.Abstractions.Hooks;
using Broker.Abstractions.Plugins;

namespace TestPlugins.Faulty;

/// <summary>
/// Registers a message.publish hook, then misbehaves as <c>mode</c> says: <c>throw</c> in start, <c>hang</c> in start
/// (ignoring cancellation), <c>leak</c>: start normally but root itself in a static of the shared runtime
/// (<see cref="AppContext.SetData"/> under <c>TestPlugins.Faulty.leak</c>), so unloading cannot collect it, or
/// <c>host_internal</c>: use a type of Broker.Core, which it does not ship.
/// </summary>
public sealed class FaultyPlugin : IBrokerPlugin
{
    public const string LeakKey = "TestPlugins.Faulty.leak";

    public async ValueTask StartAsync(IPluginContext context, CancellationToken cancellationToken)
    {
        context.Hooks.Register(HookPoints.MessagePublish, _ => ValueTask.FromResult(HookResult.Continue));
        switch (context.Configuration["mode"])
        {
            case "throw":
                throw new InvalidOperationException("boom: the backend is unreachable");
            case "hang":
                await new TaskCompletionSource().Task.ConfigureAwait(false);
                break;
            case "leak":
                AppContext.SetData(LeakKey, this);
                break;
            case "host_internal":
                UseHostInternals();
                break;
        }
    }

    // As a plugin compiled against Broker.Core would: the runtime asks the plugin's load context for the assembly.
    private static void UseHostInternals() =>
        _ = Type.GetType("Broker.Core.BrokerEngine, Broker.Core", throwOnError: true);

    public ValueTask StopAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
}
