using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests;

/// <summary>
/// What a plugin author does with plugin-template/, end to end: install the template, generate a plugin, build and
/// test it, copy its build output into the broker's plugins folder and watch it act on real MQTT traffic.
/// </summary>
public sealed class PluginTemplateTests
{
    private static readonly TimeSpan DotnetTimeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Template_GeneratedPluginBuiltAndInstalled_ActsOnRealMqttTraffic()
    {
        // Everything generated and built lives in a temp folder: nothing lands in the repository, and the private
        // template hive leaves the machine's template list alone.
        var work = Directory.CreateTempSubdirectory("broker-template-").FullName;
        try
        {
            var hive = Path.Combine(work, "hive");
            var project = Path.Combine(work, "Acme.Hello");
            // The SDK the broker under test was built with, as a DLL: nothing of the repository is rebuilt.
            var sdk = "-p:BrokerSdkPath=" + Path.Combine(AppContext.BaseDirectory, "Broker.Abstractions.dll");

            await DotnetAsync(work, "`dotnet new install` failed: is the .NET SDK's template engine available?",
                "new", "install", Path.Combine(Tools.RepoRoot, "plugin-template"), "--debug:custom-hive", hive);
            await DotnetAsync(work, "`dotnet new broker-plugin` failed",
                "new", "broker-plugin", "-n", "Acme.Hello", "-o", project, "--debug:custom-hive", hive);
            // Offline-safe: the only packages (xunit.v3 & co.) are in the NuGet cache after the solution's restore.
            // No build servers: a lingering MSBuild node or compiler server would hold this test's output pipes.
            await DotnetAsync(project, "the generated plugin does not build", "build", sdk, "--disable-build-servers", "-nodeReuse:false");
            var tests = await DotnetAsync(project, "the generated plugin's tests fail",
                "test", Path.Combine("tests", "Acme.Hello.Tests"), sdk, "--disable-build-servers", "-nodeReuse:false");
            Assert.Contains("Passed!", tests, StringComparison.Ordinal);

            var output = Path.Combine(project, "bin", "Debug", "net10.0");
            Assert.True(File.Exists(Path.Combine(output, "plugin.json")), $"{output} holds no plugin.json");
            Assert.True(File.Exists(Path.Combine(output, "Acme.Hello.deps.json")), $"{output} holds no deps.json");
            Assert.False(File.Exists(Path.Combine(output, "Broker.Abstractions.dll")), "the plugin must not ship its own copy of the SDK");

            // The generated, commented .conf with one default changed, as an operator would.
            var shippedConf = await File.ReadAllTextAsync(Path.Combine(output, "acme_hello.conf"), TestContext.Current.CancellationToken);
            Assert.Contains("rewrite_prefix = \"\"", shippedConf, StringComparison.Ordinal);
            var conf = Path.Combine(work, "acme_hello.conf");
            await File.WriteAllTextAsync(conf, shippedConf.Replace("rewrite_prefix = \"\"", "rewrite_prefix = greetings/", StringComparison.Ordinal), TestContext.Current.CancellationToken);

            // Installed as the guide says: copied into the plugins directory of a running broker, then `ctl plugins load`.
            await using var broker = await BrokerProcess.StartAsync(o => o.HomeContent["etc/plugins/acme_hello.conf"] = conf);
            broker.CopyIntoHome(output, "plugins/acme_hello");
            var load = await CtlRunner.RunAsync(broker, "plugins", "load", "acme_hello");
            Assert.True(load.ExitCode == 0, load.Transcript);
            await broker.WaitForLogAsync(l => l.Contains("acme_hello started", StringComparison.Ordinal), "acme_hello started");

            // Both prefixes: a message the plugin failed to rewrite would show up as hello/world.
            await using var sub = await MosquittoClients.SubscribeAsync(
                broker, "-V", "5", "-t", "greetings/#", "-t", "hello/#", "-F", ReceivedMessage.Format + @"\t%P");
            await MosquittoClients.PublishAsync(broker, ["-V", "5", "-t", "hello/world", "-m", "hi", "-D", "publish", "user-property", "from", "pub"]);

            var message = Assert.Single(await MosquittoClients.MessagesAsync(sub, 1));
            Assert.Equal("greetings/world", message.Topic);
            Assert.Equal("hi\tfrom:pub greeted-by:acme_hello", message.Payload); // payload, then %P: the publisher's property kept, the plugin's added
        }
        finally
        {
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    // One full build of the repository serves two claims: a plugin generated under plugins/ is bundled like a shipped
    // one, and a publish for a runtime identifier (the usual deployment) bundles every plugin. For a runtime identifier
    // the plugins used to be asked for their files under a linux-x64 folder that is never built, and none was bundled.
    [Fact]
    public async Task Template_GeneratedUnderPlugins_PublishedForARuntimeIdentifier_BundledWithEveryShippedPlugin()
    {
        // A copy of the repository's files (tracked, and new ones not ignored), so the generated plugin and the build's output stay out of it.
        var work = Directory.CreateTempSubdirectory("broker-bundle-").FullName;
        try
        {
            var hive = Path.Combine(work, "hive");
            var checkout = Path.Combine(work, "broker");
            await using (var git = ChildProcess.Start(Tools.Require("git", "git"), ["-C", Tools.RepoRoot, "-c", "core.quotepath=off", "ls-files", "--cached", "--others", "--exclude-standard"]))
            {
                Assert.Equal(0, await git.WaitForExitAsync(TimeSpan.FromSeconds(30)));
                foreach (var file in git.StdoutLines)
                {
                    var source = Path.Combine(Tools.RepoRoot, file);
                    if (!File.Exists(source))
                        continue; // deleted in the working tree, not yet committed
                    var target = Path.Combine(checkout, file);
                    Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                    File.Copy(source, target);
                }
            }

            await DotnetAsync(work, "`dotnet new install` failed: is the .NET SDK's template engine available?",
                "new", "install", Path.Combine(checkout, "plugin-template"), "--debug:custom-hive", hive);
            // As the guide says: generated under plugins/, with no SDK path (the default is the checkout's own).
            await DotnetAsync(checkout, "`dotnet new broker-plugin` failed",
                "new", "broker-plugin", "-n", "Acme.Hello", "-o", Path.Combine("plugins", "acme_hello"), "--debug:custom-hive", hive);
            // The broker's own publish, nothing else: it must find the new plugin, build it and bundle it.
            var output = Path.Combine(work, "out");
            await DotnetCli.RunAsync(checkout, "the broker does not publish with a generated plugin under plugins/", TimeSpan.FromMinutes(6),
                "publish", Path.Combine("src", "Broker.Server"), "-c", "Release", "-r", "linux-x64", "--self-contained", "false",
                "-o", output, "--disable-build-servers", "-nodeReuse:false");
            Assert.True(File.Exists(Path.Combine(output, "broker.dll")));

            var bundled = Path.Combine(output, "plugins");
            foreach (var file in new[] { "plugin.json", "Acme.Hello.dll", "Acme.Hello.deps.json", "acme_hello.conf" })
                Assert.True(File.Exists(Path.Combine(bundled, "acme_hello", file)), $"{file} not bundled into {bundled}/acme_hello");
            Assert.False(File.Exists(Path.Combine(bundled, "acme_hello", "Broker.Abstractions.dll")), "the plugin must not ship its own copy of the SDK");
            Assert.False(Directory.Exists(Path.Combine(bundled, "acme_hello", "tests")), "the plugin's tests are not part of the plugin");

            // Every shipped plugin beside it (a plugin is a folder with its project; plugins/shared holds the auth
            // plugins' library, not a plugin).
            var shipped = Directory.GetDirectories(Path.Combine(Tools.RepoRoot, "plugins"))
                .Where(d => Directory.EnumerateFiles(d, "*.csproj").Any()).Select(Path.GetFileName).Order().ToList();
            Assert.Contains("retainer", shipped);
            Assert.Contains("auth_redis", shipped);
            Assert.False(Directory.Exists(Path.Combine(bundled, "shared")), "plugins/shared is not a plugin");
            foreach (var name in shipped)
            {
                var folder = Path.Combine(bundled, name!);
                Assert.True(File.Exists(Path.Combine(folder, "plugin.json")), $"{name}: no plugin.json in {folder}");
                Assert.NotEmpty(Directory.GetFiles(folder, "Broker.Plugins.*.dll"));
            }

            // The bundled folder is a plugin the broker loads, as it loads the shipped ones from the same place.
            await using var broker = await BrokerProcess.StartAsync(o => o.Settings["plugins.directory"] = bundled);
            var load = await CtlRunner.RunAsync(broker, "plugins", "load", "acme_hello");
            Assert.True(load.ExitCode == 0, load.Transcript);
            await using var sub = await MosquittoClients.SubscribeAsync(broker, "-V", "5", "-t", "hello/#", "-F", ReceivedMessage.Format + @"\t%P");
            await MosquittoClients.PublishAsync(broker, ["-V", "5", "-t", "hello/world", "-m", "hi"]);
            var message = Assert.Single(await MosquittoClients.MessagesAsync(sub, 1));
            Assert.Equal(("hello/world", "hi\tgreeted-by:acme_hello"), (message.Topic, message.Payload));
        }
        finally
        {
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static Task<string> DotnetAsync(string workingDirectory, string failure, params string[] arguments) =>
        DotnetCli.RunAsync(workingDirectory, failure, DotnetTimeout, arguments);
}
