using Broker.Abstractions.Plugins;
using Newtonsoft.Json;

namespace TestPlugins.Json;

/// <summary>
/// Built twice, against Newtonsoft.Json 12 (TestPlugins.JsonOld) and 13 (TestPlugins.JsonNew): sets the gauge
/// <c>&lt;name&gt;.newtonsoft_major</c> to the major version of the Newtonsoft.Json it actually runs with, after using it.
/// </summary>
public sealed class JsonPlugin : IBrokerPlugin
{
    public ValueTask StartAsync(IPluginContext context, CancellationToken cancellationToken)
    {
        // JsonConvert.ToString, not SerializeObject: after SerializeObject of a plugin type this plugin was observed
        // to stay in memory after unload (reported as leaking), so the serializer's caches reach it from outside
        // its load context. That is a finding for plugin authors, not what this test is about.
        var json = JsonConvert.ToString(context.Name);
        if (json != "\"" + context.Name + "\"")
            throw new InvalidOperationException("Newtonsoft.Json did not serialise");
        context.Broker.SetGauge(context.Name + ".newtonsoft_major", typeof(JsonConvert).Assembly.GetName().Version!.Major);
        return ValueTask.CompletedTask;
    }

    public ValueTask StopAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
}
