using Broker.Abstractions.Plugins;
using Broker.Server.Configuration;

namespace Broker.Plugins.Tests;

/// <summary>Binds a plugin's options from .conf lines exactly as the host does for <c>IPluginContext.BindOptions</c>.</summary>
public static class PluginConf
{
    /// <summary>Writes <paramref name="lines"/> to etc/plugins/<paramref name="name"/>.conf in a temporary folder and binds them.</summary>
    /// <exception cref="PluginConfigurationException">A value is bad; one "file:line: key ..." line per problem.</exception>
    public static T Bind<T>(string name, params string[] lines) where T : new()
    {
        var etc = Directory.CreateTempSubdirectory("plugin-conf-");
        try
        {
            Directory.CreateDirectory(Path.Combine(etc.FullName, "plugins"));
            File.WriteAllLines(PluginConfiguration.FileOf(etc.FullName, name), lines);
            var configuration = PluginConfiguration.Load(etc.FullName, name, new Dictionary<string, string>());
            var options = new T();
            var errors = PluginConfiguration.BindOptions(configuration, options);
            return errors.Count == 0 ? options : throw new PluginConfigurationException(string.Join(Environment.NewLine, errors));
        }
        finally
        {
            etc.Delete(recursive: true);
        }
    }

    /// <summary>The checkout's root (the folder holding Broker.sln).</summary>
    public static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Broker.sln")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Broker.sln not found above " + AppContext.BaseDirectory);
    }
}
