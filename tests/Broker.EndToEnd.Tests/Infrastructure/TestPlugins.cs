using System.Globalization;
using System.Reflection;

namespace Broker.EndToEnd.Tests.Infrastructure;

/// <summary>The build output of the plugins under tests/plugins/ (built through this project's references).</summary>
public static class TestPlugins
{
    /// <summary>The folder holding plugin.json and the DLLs of <paramref name="project"/>, e.g. TestPlugins.Hello.</summary>
    public static string OutputOf(string project)
    {
        var pattern = typeof(TestPlugins).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "TestPluginsOutput").Value!;
        var output = string.Format(CultureInfo.InvariantCulture, pattern, project);
        Assert.True(File.Exists(Path.Combine(output, "plugin.json")), $"the test plugin {project} was not built to {output}");
        return output;
    }
}
