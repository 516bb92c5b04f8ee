using System.Reflection;
using Broker.Core;
using Broker.Core.Configuration;
using Broker.Configuration;
using Broker.Server.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace Broker.PluginHost.Tests;

/// <summary>
/// A broker home in a temp directory (plugins/, etc/plugins/, data/) with an engine and a plugin manager over it.
/// Test plugins are staged from their build output under any name, with a plugin.json the test can change.
/// </summary>
internal sealed class PluginTestHome : IAsyncDisposable
{
    private static readonly string OutputPattern = typeof(PluginTestHome).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "TestPluginsOutput").Value!;

    public PluginTestHome(Action<PluginHostOptions>? configure = null)
    {
        Root = Directory.CreateTempSubdirectory("broker-plugins-").FullName;
        Directory.CreateDirectory(PluginsDirectory);
        Directory.CreateDirectory(Path.Combine(EtcDirectory, "plugins"));
        Directory.CreateDirectory(DataDirectory);
        Options = new PluginHostOptions { StartTimeout = TimeSpan.FromSeconds(10), UnloadTimeout = TimeSpan.FromSeconds(10) };
        configure?.Invoke(Options);
        Engine = new BrokerEngine(new MqttOptions(), new SessionOptions(), new AccessControlOptions { AllowAnonymous = true },
            new BrokerOptions(), TimeProvider.System, NullLoggerFactory.Instance);
        Manager = NewManager();
    }

    public string Root { get; }
    public string PluginsDirectory => Path.Combine(Root, "plugins");
    public string EtcDirectory => Path.Combine(Root, "etc");
    public string DataDirectory => Path.Combine(Root, "data");
    public PluginHostOptions Options { get; }

    /// <summary>
    /// This home's own context for shared dependencies, so what one test shares (and which version of a package it
    /// shared first) does not depend on the tests that ran before it in this process.
    /// </summary>
    public SharedDependencyContext SharedDependencies { get; } = new("plugin-dependencies (test)");
    public BrokerEngine Engine { get; }
    public PluginManager Manager { get; }

    /// <summary>A second manager over the same home and engine, as after a restart.</summary>
    public PluginManager NewManager() =>
        new(Engine.PluginSupport, Options, [PluginsDirectory], DataDirectory, new PluginConfigurationSource(EtcDirectory, new Dictionary<string, string>()),
            SharedDependencies);

    /// <summary>Copies test plugin <paramref name="project"/> (e.g. <c>TestPlugins.Hello</c>) to plugins/<paramref name="name"/>/.</summary>
    public string Stage(string project, string name, string? sdkVersion = "2.0", string version = "1.0.0")
    {
        var source = string.Format(System.Globalization.CultureInfo.InvariantCulture, OutputPattern, project);
        Assert.True(File.Exists(Path.Combine(source, project + ".dll")), $"{project} is not built at {source}");
        var target = Path.Combine(PluginsDirectory, name);
        Directory.CreateDirectory(target);
        foreach (var file in Directory.EnumerateFiles(source))
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)), overwrite: true);
        WriteManifest(name, $$"""
            {
              "name": "{{name}}",
              "version": "{{version}}",
              "description": "{{project}} as {{name}}",
              "entryAssembly": "{{project}}.dll",
              "sdkVersion": "{{sdkVersion}}"
            }
            """);
        return target;
    }

    public void WriteManifest(string name, string json) => File.WriteAllText(Path.Combine(PluginsDirectory, name, "plugin.json"), json);

    public void WriteConf(string name, string text) => File.WriteAllText(Path.Combine(EtcDirectory, "plugins", name + ".conf"), text);

    public string LoadedPluginsPath => Path.Combine(DataDirectory, "loaded_plugins");

    public async Task<PluginInfo> InfoAsync(string name) => (await Manager.ListAsync()).Single(p => p.Name == name);

    public async ValueTask DisposeAsync()
    {
        await Manager.StopAllAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
