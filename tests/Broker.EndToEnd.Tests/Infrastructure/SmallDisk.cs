using System.Diagnostics;

namespace Broker.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A small tmpfs of its own (mount needs root, as the test command runs in CI), to fill up with a file and free again:
/// a disk that runs full under the broker without touching the machine's disks.
/// </summary>
public sealed class SmallDisk : IAsyncDisposable
{
    private SmallDisk(string path) => Path = path;

    public string Path { get; }

    private string FillerPath => System.IO.Path.Combine(Path, "filler");

    public static async Task<SmallDisk> MountAsync(int megabytes)
    {
        var path = Directory.CreateTempSubdirectory("broker-small-disk-").FullName;
        var (code, output) = await RunAsync("mount", "-t", "tmpfs", "-o", $"size={megabytes}m", "tmpfs", path);
        if (code != 0)
        {
            Directory.Delete(path);
            Assert.Fail($"the disk-full test mounts a {megabytes} MB tmpfs and could not (it needs root, as scripts/test.sh runs in CI): mount said: {output}");
        }
        return new SmallDisk(path);
    }

    /// <summary>Writes a file until the disk has no space left.</summary>
    public void Fill()
    {
        var chunk = new byte[64 * 1024];
        using var file = new FileStream(FillerPath, FileMode.Create, FileAccess.Write, FileShare.None, 0);
        try
        {
            while (true)
                file.Write(chunk);
        }
        catch (IOException)
        {
            // ENOSPC: full
        }
    }

    /// <summary>Removes the file <see cref="Fill"/> wrote.</summary>
    public void Free() => File.Delete(FillerPath);

    public async ValueTask DisposeAsync()
    {
        await RunAsync("umount", "-l", Path);
        Directory.Delete(Path, recursive: true);
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file, arguments) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        try
        {
            using var process = Process.Start(start)!;
            var output = await process.StandardError.ReadToEndAsync() + await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();
            return (process.ExitCode, output.Trim());
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (-1, ex.Message);
        }
    }
}
