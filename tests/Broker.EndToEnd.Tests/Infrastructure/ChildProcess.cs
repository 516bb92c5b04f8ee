using System.Diagnostics;
using System.Text;

namespace Broker.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A child process whose stdout and stderr are read asynchronously line by line and kept, so a test can
/// wait for a line (never sleep) and every failure message can show what the process said.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Lock _gate = new();
    private readonly List<string> _stdout = [];
    private readonly StringBuilder _transcript = new();
    private readonly List<Waiter> _waiters = [];
    private readonly TaskCompletionSource<int> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _stdoutOpen = 1;
    private int _stderrOpen = 1;

    private readonly bool _stderrIsOutput;

    private ChildProcess(Process process, string displayName, bool stderrIsOutput)
    {
        _process = process;
        DisplayName = displayName;
        _stderrIsOutput = stderrIsOutput;
    }

    /// <summary>Raised for every stdout line, on a thread-pool thread.</summary>
    public event Action<string>? LineReceived;

    public string DisplayName { get; }

    public int Id => _process.Id;

    public bool HasExited => _exited.Task.IsCompleted;

    public StreamWriter StandardInput => _process.StandardInput;

    public static ChildProcess Start(
        string fileName,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string>? environment = null,
        string? workingDirectory = null,
        bool redirectStdin = false,
        bool stderrIsOutput = false)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = redirectStdin,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        if (environment is not null)
        {
            foreach (var (key, value) in environment)
            {
                info.Environment[key] = value;
            }
        }

        var displayName = Path.GetFileName(fileName) + " " + string.Join(' ', info.ArgumentList.Select(Quote));
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var child = new ChildProcess(process, displayName, stderrIsOutput);
        process.OutputDataReceived += (_, e) => child.OnLine(e.Data, isStdout: true);
        process.ErrorDataReceived += (_, e) => child.OnLine(e.Data, isStdout: false);
        if (!process.Start())
        {
            throw new InvalidOperationException($"could not start {displayName}");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Every stdout line so far (and stderr's, for a process started with stderrIsOutput).</summary>
    public IReadOnlyList<string> StdoutLines
    {
        get
        {
            lock (_gate)
            {
                return [.. _stdout];
            }
        }
    }

    /// <summary>The command line and everything it printed, stdout and stderr interleaved.</summary>
    public string Transcript
    {
        get
        {
            lock (_gate)
            {
                return $"$ {DisplayName}{Environment.NewLine}{_transcript}";
            }
        }
    }

    /// <summary>Waits for a stdout line matching <paramref name="predicate"/> (already seen lines count).</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> predicate, TimeSpan timeout, string what) =>
        (await WaitForLinesAsync(predicate, 1, timeout, what))[0];

    /// <summary>Waits until <paramref name="count"/> stdout lines match; fails early if the process exits.</summary>
    public async Task<IReadOnlyList<string>> WaitForLinesAsync(
        Func<string, bool> predicate, int count, TimeSpan timeout, string what)
    {
        var waiter = new Waiter(predicate, count);
        lock (_gate)
        {
            foreach (var line in _stdout)
            {
                waiter.Offer(line);
            }

            if (!waiter.Done.Task.IsCompleted)
            {
                if (HasExited)
                {
                    waiter.Done.TrySetException(new InvalidOperationException("process already exited"));
                }
                else
                {
                    _waiters.Add(waiter);
                }
            }
        }

        try
        {
            return await waiter.Done.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException(
                $"timed out after {timeout.TotalSeconds:0.#} s waiting for {what} " +
                $"({waiter.Matched.Count}/{count} lines)\n{Transcript}");
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException(
                $"waiting for {what}: {e.Message} ({waiter.Matched.Count}/{count} lines)\n{Transcript}");
        }
        finally
        {
            lock (_gate)
            {
                _waiters.Remove(waiter);
            }
        }
    }

    /// <summary>Waits for the process to exit and its output to be drained; kills it on timeout and throws.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        try
        {
            return await _exited.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            Kill();
            throw new TimeoutException($"{DisplayName} did not exit within {timeout.TotalSeconds:0.#} s\n{Transcript}");
        }
    }

    /// <summary>Sends a POSIX signal (TERM, KILL, INT...). Process has no API for SIGTERM.</summary>
    public void Signal(string signal)
    {
        if (HasExited)
        {
            return;
        }

        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            UseShellExecute = false,
            RedirectStandardError = true,
        });
        kill?.WaitForExit();
    }

    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        try
        {
            await _exited.Task.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
            // nothing more we can do; the transcript still says what happened
        }

        _process.Dispose();
    }

    private void OnLine(string? line, bool isStdout)
    {
        if (line is null)
        {
            // End of a stream; the process counts as exited once both are drained, so no line is lost.
            var remaining = isStdout ? Interlocked.Exchange(ref _stdoutOpen, 0) : Interlocked.Exchange(ref _stderrOpen, 0);
            if (remaining == 1 && Volatile.Read(ref _stdoutOpen) == 0 && Volatile.Read(ref _stderrOpen) == 0)
            {
                _ = CompleteExitAsync();
            }

            return;
        }

        Waiter[] waiters;
        lock (_gate)
        {
            _transcript.Append(isStdout ? "  " : "! ").AppendLine(line);
            if (!isStdout && !_stderrIsOutput)
            {
                return;
            }

            _stdout.Add(line);
            waiters = [.. _waiters];
            foreach (var waiter in waiters)
            {
                waiter.Offer(line);
            }
        }

        LineReceived?.Invoke(line);
    }

    private async Task CompleteExitAsync()
    {
        await _process.WaitForExitAsync();
        Waiter[] waiters;
        lock (_gate)
        {
            _transcript.AppendLine($"[exited with {_process.ExitCode}]");
            waiters = [.. _waiters];
        }

        foreach (var waiter in waiters)
        {
            waiter.Done.TrySetException(new InvalidOperationException($"process exited with {_process.ExitCode}"));
        }

        _exited.TrySetResult(_process.ExitCode);
    }

    private static string Quote(string argument) =>
        argument.Length > 0 && argument.All(c => char.IsLetterOrDigit(c) || "-_./:=@,%+".Contains(c))
            ? argument
            : "'" + argument.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private sealed class Waiter(Func<string, bool> predicate, int count)
    {
        public List<string> Matched { get; } = [];

        public TaskCompletionSource<IReadOnlyList<string>> Done { get; } =
            new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Offer(string line)
        {
            if (Done.Task.IsCompleted || !predicate(line))
            {
                return;
            }

            Matched.Add(line);
            if (Matched.Count >= count)
            {
                Done.TrySetResult([.. Matched]);
            }
        }
    }
}
