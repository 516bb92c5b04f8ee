using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests;

/// <summary>What an operator deploying with <c>dotnet publish</c> gets: the broker with every shipped plugin beside it.</summary>
public sealed class PublishTests
{
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task Publish_ForARuntimeIdentifier_BundlesEveryShippedPlugin()
    {
        // For a runtime identifier (the usual deployment publish) the plugins used to be asked for their files under
        // a linux-x64 folder that is never built, and none was bundled. Everything is built under a temp artifacts
        // path, so the repository's own bin/obj folders are left alone.
        var work = Directory.CreateTempSubdirectory("broker-publish-").FullName;
        try
        {
            var output = Path.Combine(work, "out");
            await DotnetCli.RunAsync(work, "dotnet publish failed", PublishTimeout,
                "publish", Path.Combine(Tools.RepoRoot, "src", "Broker.Server"), "-c", "Release", "-r", "linux-x64", "--self-contained", "false",
                "--artifacts-path", Path.Combine(work, "artifacts"), "-o", output, "--disable-build-servers", "-nodeReuse:false");

            // A plugin is a folder with its project (plugins/shared holds the auth plugins' library, not a plugin).
            var shipped = Directory.GetDirectories(Path.Combine(Tools.RepoRoot, "plugins"))
                .Where(d => Directory.EnumerateFiles(d, "*.csproj").Any()).Select(Path.GetFileName).Order().ToList();
            Assert.False(Directory.Exists(Path.Combine(output, "plugins", "shared")), "plugins/shared is not a plugin");
            Assert.Contains("retainer", shipped);
            Assert.Contains("auth_redis", shipped);
            foreach (var name in shipped)
            {
                var folder = Path.Combine(output, "plugins", name!);
                Assert.True(File.Exists(Path.Combine(folder, "plugin.json")), $"{name}: no plugin.json in {folder}");
                Assert.NotEmpty(Directory.GetFiles(folder, "Broker.Plugins.*.dll"));
            }
            Assert.True(File.Exists(Path.Combine(output, "broker.dll")));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
